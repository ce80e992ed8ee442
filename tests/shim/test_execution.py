"""execute(): one task call with Celery's semantics, turned into an Outcome for the worker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cfq_shim import Task, signals
from cfq_shim.envelope import Envelope
from cfq_shim.exceptions import Ignore, Reject, SoftTimeLimitExceeded
from cfq_shim.execution import Delivery, Expired, Failed, Ignored, Rejected, RetryLater, Succeeded, execute


def envelope(name, args=(), kwargs=None, **fields):
    return Envelope(id="task-1", task=name, args=list(args), kwargs=kwargs or {}, queue="celery", **fields)


def delivery(attempts=1):
    return Delivery(message_id="m-1", queue="celery", attempts=attempts, hostname="host-1", lease_id="l-1")


@pytest.fixture
def app(make_app):
    return make_app(set_as_current=False)


def test_success_returns_the_result(app):
    @app.task
    def add(x, y):
        return x + y

    outcome = execute(app, envelope(add.name, (2, 3)), delivery())
    assert isinstance(outcome, Succeeded) and outcome.result == 5 and outcome.runtime_seconds >= 0


def test_request_context_inside_the_task(app):
    seen = {}

    @app.task(bind=True)
    def probe(self):
        request = self.request
        seen.update(id=request.id, retries=request.retries, called_directly=request.called_directly,
                    is_eager=request.is_eager, hostname=request.hostname, root_id=request.root_id,
                    parent_id=request.parent_id, queue=request.delivery_info["routing_key"], headers=request.headers)

    execute(app, envelope(probe.name, retries=2, root_id="root", parent_id="parent", headers={"h": 1}), delivery(attempts=3))
    assert seen == dict(id="task-1", retries=4, called_directly=False, is_eager=False, hostname="host-1",
                        root_id="root", parent_id="parent", queue="celery", headers={"h": 1})
    assert probe.request.id is None  # the request is popped afterwards


def test_exception_fails_with_type_message_and_traceback(app):
    @app.task
    def boom():
        raise KeyError("missing")

    outcome = execute(app, envelope(boom.name), delivery())
    assert isinstance(outcome, Failed)
    assert outcome.exc_type == "KeyError" and "missing" in outcome.message
    assert "Traceback" in outcome.traceback and "boom" in outcome.traceback


def test_soft_time_limit_is_a_failure(app):
    @app.task
    def slow():
        raise SoftTimeLimitExceeded()

    assert execute(app, envelope(slow.name), delivery()).exc_type == "SoftTimeLimitExceeded"


def test_keyboard_interrupt_passes_through(app):
    @app.task
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(app, envelope(interrupted.name), delivery())


def test_self_retry_asks_for_a_later_run(app):
    @app.task(bind=True, max_retries=3)
    def flaky(self, x):
        raise self.retry(countdown=7, exc=ValueError("later"))

    outcome = execute(app, envelope(flaky.name, (1,)), delivery())
    assert isinstance(outcome, RetryLater)
    assert outcome.delay_seconds == 7 and not outcome.body_changed
    assert outcome.envelope.retries == 1 and outcome.envelope.args == [1] and outcome.envelope.id == "task-1"
    assert "later" in outcome.reason
    remaining = (outcome.envelope.eta - datetime.now(timezone.utc)).total_seconds()
    assert 0 < remaining <= 7


def test_retry_with_new_arguments_changes_the_body(app):
    @app.task(bind=True)
    def again(self, x):
        raise self.retry(args=(x + 1,), countdown=0)

    outcome = execute(app, envelope(again.name, (1,)), delivery())
    assert outcome.body_changed and outcome.envelope.args == [2]


def test_retry_counts_transport_attempts_and_stops_at_max_retries(app):
    @app.task(bind=True, max_retries=2, default_retry_delay=1)
    def flaky(self):
        raise self.retry(exc=ConnectionError("down"))

    assert isinstance(execute(app, envelope(flaky.name), delivery(attempts=2)), RetryLater)
    # retries so far: 0 in the envelope + 2 earlier deliveries = 2 = max_retries -> the original exception
    outcome = execute(app, envelope(flaky.name), delivery(attempts=3))
    assert isinstance(outcome, Failed) and outcome.exc_type == "ConnectionError"


def test_retry_without_exc_past_max_raises_max_retries_exceeded(app):
    @app.task(bind=True, max_retries=0)
    def once(self):
        raise self.retry()

    assert execute(app, envelope(once.name), delivery()).exc_type == "MaxRetriesExceededError"


def test_autoretry_for_with_backoff(app):
    @app.task(autoretry_for=(ConnectionError,), retry_backoff=2, retry_jitter=False, max_retries=5)
    def fetch():
        raise ConnectionError("down")

    outcomes = [execute(app, envelope(fetch.name, retries=n), delivery()) for n in range(3)]
    assert [o.delay_seconds for o in outcomes] == [2, 4, 8]
    assert isinstance(execute(app, envelope(fetch.name, retries=5), delivery()), Failed)


def test_dont_autoretry_for_wins(app):
    @app.task(autoretry_for=(Exception,), dont_autoretry_for=(KeyError,))
    def picky():
        raise KeyError("no")

    assert isinstance(execute(app, envelope(picky.name), delivery()), Failed)


def test_reject_and_ignore(app):
    @app.task
    def rejecting():
        raise Reject("bad input", requeue=False)

    @app.task
    def ignoring():
        raise Ignore()

    assert execute(app, envelope(rejecting.name), delivery()) == Rejected(reason="bad input", requeue=False)
    assert execute(app, envelope(ignoring.name), delivery()) == Ignored()


def test_expired_task_is_skipped_and_revoked(app):
    ran, revoked = [], []

    @app.task
    def late():
        ran.append(1)

    def on_revoked(sender, request, expired, **kwargs):
        revoked.append((sender.name, request.id, expired))

    signals.task_revoked.connect(on_revoked)
    try:
        past = datetime.now(timezone.utc) - timedelta(seconds=1)
        assert execute(app, envelope(late.name, expires=past), delivery()) == Expired()
    finally:
        signals.task_revoked.disconnect(on_revoked)
    assert ran == [] and revoked == [(late.name, "task-1", True)]


def test_unknown_task_fails_with_not_registered(app):
    outcome = execute(app, envelope("proj.nope"), delivery())
    assert isinstance(outcome, Failed) and outcome.exc_type == "NotRegistered" and "proj.nope" in outcome.message


def test_hooks_and_signals_in_celerys_order(app):
    events = []

    class Hooked(Task):
        def before_start(self, task_id, args, kwargs):
            events.append("before_start")

        def on_success(self, retval, task_id, args, kwargs):
            events.append("on_success")

        def on_failure(self, exc, task_id, args, kwargs, einfo):
            events.append("on_failure")

        def on_retry(self, exc, task_id, args, kwargs, einfo):
            events.append("on_retry")

        def after_return(self, status, retval, task_id, args, kwargs, einfo):
            events.append(f"after_return:{status}")

        def __call__(self, *args, **kwargs):
            events.append("__call__")
            return super().__call__(*args, **kwargs)

    @app.task(base=Hooked, bind=True, max_retries=1)
    def work(self, mode):
        events.append(f"run:{self.request.id}")
        if mode == "fail":
            raise ValueError(mode)
        if mode == "retry":
            raise self.retry(countdown=0)
        return mode

    receivers = {
        name: (lambda name: lambda sender=None, **kw: events.append(name))(name)
        for name in ("task_prerun", "task_postrun", "task_success", "task_failure", "task_retry")
    }
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    try:
        execute(app, envelope(work.name, ("ok",)), delivery())
        assert events == ["task_prerun", "before_start", "__call__", "run:task-1", "on_success", "task_success",
                          "after_return:SUCCESS", "task_postrun"]
        events.clear()
        execute(app, envelope(work.name, ("fail",)), delivery())
        assert events == ["task_prerun", "before_start", "__call__", "run:task-1", "on_failure", "task_failure",
                          "after_return:FAILURE", "task_postrun"]
        events.clear()
        execute(app, envelope(work.name, ("retry",)), delivery())
        assert events == ["task_prerun", "before_start", "__call__", "run:task-1", "on_retry", "task_retry",
                          "task_postrun"]  # no after_return after a retry, as in Celery
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)


def test_a_broken_signal_handler_does_not_fail_the_task(app):
    @app.task
    def fine():
        return 1

    def broken(**kwargs):
        raise RuntimeError("handler bug")

    signals.task_prerun.connect(broken)
    try:
        assert execute(app, envelope(fine.name), delivery()) == Succeeded(result=1, runtime_seconds=pytest.approx(0, abs=5))
    finally:
        signals.task_prerun.disconnect(broken)


def test_a_raising_failure_hook_is_an_internal_error_not_a_crash(app):
    internal = []

    class BrokenHook(Task):
        def on_failure(self, exc, task_id, args, kwargs, einfo):
            raise RuntimeError("hook bug")

    @app.task(base=BrokenHook)
    def boom():
        raise ValueError("task error")

    def on_internal(sender=None, exception=None, **kwargs):
        internal.append(type(exception).__name__)

    signals.task_internal_error.connect(on_internal)
    try:
        outcome = execute(app, envelope(boom.name), delivery())
    finally:
        signals.task_internal_error.disconnect(on_internal)
    assert isinstance(outcome, Failed) and outcome.exc_type == "RuntimeError" and "hook bug" in outcome.message
    assert internal == ["RuntimeError"]
    assert boom.request.id is None  # the request stack was unwound


def test_reject_from_on_success_rejects_the_message(app):
    class RejectingHook(Task):
        def on_success(self, retval, task_id, args, kwargs):
            raise Reject("not after all", requeue=True)

    @app.task(base=RejectingHook)
    def fine():
        return 1

    assert execute(app, envelope(fine.name), delivery()) == Rejected(reason="not after all", requeue=True)


def test_retry_at_an_eta(app):
    when = datetime.now(timezone.utc) + timedelta(minutes=10)

    @app.task(bind=True)
    def later(self):
        raise self.retry(eta=when)

    outcome = execute(app, envelope(later.name), delivery())
    assert 590 < outcome.delay_seconds <= 600 and outcome.envelope.eta is not None


def test_max_retries_given_to_retry_overrides_the_tasks(app):
    @app.task(bind=True, max_retries=10)
    def capped(self):
        raise self.retry(max_retries=1, countdown=0)

    assert isinstance(execute(app, envelope(capped.name), delivery(attempts=1)), RetryLater)
    assert execute(app, envelope(capped.name), delivery(attempts=2)).exc_type == "MaxRetriesExceededError"
