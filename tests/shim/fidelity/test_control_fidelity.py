"""Differential: the reply shapes of ``app.control.inspect()`` and ``app.control.ping()`` under real
Celery 5.7 and under cfq_shim (a Worker thread; replies from its heartbeat), for the same task running.

Celery's worker thread (``celery.contrib.testing.worker.start_worker``) runs on a real redis-server
on 127.0.0.1: on ``memory://`` a busy Celery worker does not answer ``inspect()`` at all.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest
from services import redis_server

DEADLINE_SECONDS = 20.0


def _wait(predicate, what):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _shape(value: Any) -> Any:
    """Types and keys, not values: what a caller's code depends on."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if value is None:
        return None
    return type(value).__name__


def _collect(app, release: threading.Event, hold) -> dict[str, Any]:
    hold.delay(3, tag="x")
    inspect = app.control.inspect(timeout=1.0)
    active = _wait(lambda: next(iter((inspect.active() or {}).values()), None), "an active task")
    replies = {
        "ping": inspect.ping(),
        "active": inspect.active(),
        "registered": inspect.registered(),
        "scheduled": inspect.scheduled(),
        "reserved": inspect.reserved(),
        "active_queues": inspect.active_queues(),
        "stats": inspect.stats(),
        "control_ping": app.control.ping(timeout=1.0),
        "nobody": app.control.inspect(destination=["nobody@nowhere"], timeout=0.3).ping(),
    }
    try:
        app.control.inspect(destination=next(iter(inspect.ping())), timeout=1.0).ping()
    except ValueError as exc:
        replies["one"] = f"ValueError: {exc}"
    release.set()
    assert active
    return replies


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A redis-server of its own on a free loopback port (tests/services.py), stopped at the end."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url.rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def celery_replies(redis_url):
    from celery import Celery
    from celery.contrib.testing.worker import start_worker

    app = Celery("shapes", broker=f"{redis_url}/0", backend=f"{redis_url}/1")
    app.conf.worker_hijack_root_logger = False
    release = threading.Event()

    @app.task
    def hold(n, tag=None):
        release.wait(DEADLINE_SECONDS)

    @app.task(rate_limit="10/m")
    def plain():
        pass

    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"):
        replies = _collect(app, release, hold)
    return replies


@pytest.fixture(scope="module")
def shim_replies():
    from cfq_shim import Celery
    from cfq_shim.worker import Worker

    app = Celery("shapes", broker="memory://", cfq_worker_heartbeat_seconds=0.1)
    release = threading.Event()

    @app.task
    def hold(n, tag=None):
        release.wait(DEADLINE_SECONDS)

    @app.task(rate_limit="10/m")
    def plain():
        pass

    worker = Worker(app, pool="threads", concurrency=2, max_idle_backoff_seconds=0.02).start()
    try:
        replies = _collect(app, release, hold)
    finally:
        release.set()
        worker.stop()
        app.close()
    return replies


def _only(replies: dict[str, Any], key: str) -> Any:
    (value,) = replies[key].values()
    return value


def test_ping_replies_have_celerys_shape(celery_replies, shim_replies):
    for replies in (celery_replies, shim_replies):
        (name,) = replies["ping"]
        assert "@" in name
        assert replies["ping"] == {name: {"ok": "pong"}}
        assert replies["control_ping"] == [{name: {"ok": "pong"}}]
        assert replies["nobody"] is None  # nobody answered: None, not {}
        # kombu refuses a destination that is not a list; the shim says the same.
        assert replies["one"] == "ValueError: destination must be a list/tuple not <class 'str'>"


def test_active_request_has_celerys_keys_and_values(celery_replies, shim_replies):
    (celery_request,) = _only(celery_replies, "active")
    (shim_request,) = _only(shim_replies, "active")
    assert _shape(shim_request) == _shape(celery_request)
    # Celery acks before running by default (acks_late=False); cfq_shim acks after (docs/worker.md), and
    # says so: the field is truthful on both sides.
    assert celery_request["acknowledged"] is True and shim_request["acknowledged"] is False
    for request in (celery_request, shim_request):
        assert (request["args"], request["kwargs"]) == ([3], {"tag": "x"})
        assert request["name"] == request["type"] == f"{__name__}.hold"
        assert request["delivery_info"]["routing_key"] == "celery"


def test_registered_scheduled_reserved_and_queues_match(celery_replies, shim_replies):
    # Only this module's tasks: shared tasks that other test modules defined join every app, in both.
    def ours(replies):
        return [name for name in _only(replies, "registered") if name.startswith(__name__ + ".")]

    assert ours(shim_replies) == ours(celery_replies) == [
        f"{__name__}.hold", f"{__name__}.plain [rate_limit=10/m]"]
    assert _only(shim_replies, "scheduled") == _only(celery_replies, "scheduled") == []
    assert _only(shim_replies, "reserved") == _only(celery_replies, "reserved") == []
    (celery_queue,) = _only(celery_replies, "active_queues")
    (shim_queue,) = _only(shim_replies, "active_queues")
    assert shim_queue == celery_queue


def test_stats_have_celerys_keys(celery_replies, shim_replies):
    celery_stats, shim_stats = _only(celery_replies, "stats"), _only(shim_replies, "stats")
    assert set(shim_stats) == set(celery_stats)
    assert set(shim_stats["broker"]) == set(celery_stats["broker"])
    assert set(shim_stats["rusage"]) == set(celery_stats["rusage"])
    assert {"implementation", "max-concurrency"} <= set(shim_stats["pool"]) & set(celery_stats["pool"])
    for stats in (celery_stats, shim_stats):
        assert isinstance(stats["pid"], int) and isinstance(stats["clock"], str) and isinstance(stats["uptime"], int)
        assert stats["pool"]["max-concurrency"] == 2


def _revoked_eta_outcome(app, worker_ready) -> tuple[str, str, str, list]:
    """Under a running worker, send a countdown task and revoke it; once its ETA passed: its state and error.

    (The worker runs first: Celery keeps revoked ids in the memory of the workers that were running when
    revoke was broadcast. cfq_shim keeps them in the shared store, so a later worker skips them too;
    tests/shim/test_control.py covers that.)"""
    ran: list = []

    @app.task
    def later(n):
        ran.append(n)

    with worker_ready():
        _wait(lambda: app.control.ping(timeout=0.3), "the worker answers ping (it hears revokes from now on)")
        result = later.apply_async((1,), countdown=2)
        app.control.revoke(result.id)
        state = _wait(lambda: result.state if result.state != "PENDING" else None, "the revoked state")
        try:
            result.get(timeout=5)
        except Exception as exc:  # noqa: BLE001 - the error is what is compared
            error = (type(exc).__name__, str(exc))
        else:
            error = ("none", "")
    return state, error[0], error[1], ran


def test_a_revoked_task_reads_revoked_with_taskrevokederror_in_both(redis_url):
    from contextlib import contextmanager

    from celery import Celery as RealCelery
    from celery.contrib.testing.worker import start_worker

    from cfq_shim import Celery
    from cfq_shim.worker import Worker

    real = RealCelery("revoking", broker=f"{redis_url}/2", backend=f"{redis_url}/3")
    real.conf.worker_hijack_root_logger = False
    celery_outcome = _revoked_eta_outcome(
        real, lambda: start_worker(real, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING"))

    shim = Celery("revoking", broker="memory://", result_backend="memory://", cfq_worker_heartbeat_seconds=0.1)

    @contextmanager
    def shim_worker():
        worker = Worker(shim, pool="threads", concurrency=1, max_idle_backoff_seconds=0.02).start()
        try:
            yield worker
        finally:
            worker.stop()

    try:
        shim_outcome = _revoked_eta_outcome(shim, shim_worker)
    finally:
        shim.close()
    assert shim_outcome == celery_outcome == ("REVOKED", "TaskRevokedError", "revoked", [])
