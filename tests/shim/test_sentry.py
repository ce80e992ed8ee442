"""Sentry: a failing task run in a worker becomes one event with the fields Sentry's Celery integration
sends; Retry/Ignore and exceptions in ``throws`` send nothing. Events are caught in ``before_send``,
so nothing leaves the process."""

from __future__ import annotations

import pytest

sentry_sdk = pytest.importorskip("sentry_sdk", reason="the sentry-sdk test dependency is not installed")


@pytest.fixture(params=[True, False], ids=["send_default_pii", "default"])
def events(request):
    from cfq_shim.contrib import sentry

    caught: list[dict] = []

    def keep(event, hint):
        caught.append(event)
        return None  # dropped before any transport: no network

    sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", before_send=keep, default_integrations=False,
                    auto_enabling_integrations=False, send_default_pii=request.param)
    caught.append({"pii": request.param})
    sentry.install()
    try:
        yield caught
    finally:
        sentry.uninstall()
        sentry_sdk.init()  # no DSN: a disabled client


def test_a_failing_task_is_reported_with_its_job(events):
    from cfq_shim import Celery
    from cfq_shim.contrib.testing.worker import start_worker
    from cfq_shim.exceptions import Ignore

    app = Celery("proj", broker="memory://", backend="memory://", set_as_current=False)

    @app.task(bind=True, max_retries=1, default_retry_delay=0)
    def charge(self, order, amount=0):
        if self.request.retries == 0:
            raise self.retry(countdown=0)
        raise ValueError(f"card declined for {order}")

    @app.task
    def skipped():
        raise Ignore()

    @app.task(throws=(KeyError,))
    def expected():
        raise KeyError("missing")

    with start_worker(app, pool="solo") as worker:
        failed = charge.delay(7, amount=30)
        skipped.delay()
        expected.delay()
        worker.drain(timeout_seconds=30)
    with pytest.raises(ValueError):
        failed.get(timeout=10)

    pii = events.pop(0)["pii"]
    assert len(events) == 1, events
    event = events[0]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "ValueError" and exception["value"] == "card declined for 7"
    assert event["tags"] == {"celery_task_id": failed.id}
    job = {"task_name": charge.name, "args": [7], "kwargs": {"amount": 30}, "retries": 1}
    if not pii:  # as sentry-sdk's CeleryIntegration: arguments may be personal data
        job.update(args="[Filtered]", kwargs="[Filtered]")
    assert event["extra"]["celery-job"] == job


def test_install_is_idempotent():
    from cfq_shim import signals
    from cfq_shim.contrib import sentry

    before = len(signals.task_failure.receivers)
    sentry.install()
    sentry.install()
    assert len(signals.task_failure.receivers) == before + 1
    sentry.uninstall()
    assert len(signals.task_failure.receivers) == before
