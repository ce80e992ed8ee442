"""The running guard's verdicts (worker/guard.py) on a real store (the ``sqlite://`` result backend); the
whole path with real worker processes is tests/e2e/test_running_guard.py."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

from cfq_shim.limits import DEFAULT_LIMITS
from cfq_shim.results import open_backend
from cfq_shim.worker.guard import DONE, GUARD_HEADER, RUN, RUNNING, RunningGuard


def guard_on(tmp_path, **kwargs) -> RunningGuard:
    store = open_backend(f"sqlite:///{tmp_path / 'control.sqlite3'}")
    return RunningGuard(store, hostname="w1@test", limits=DEFAULT_LIMITS, lease_ms=kwargs.get("lease_ms", 3_600_000))


def test_verdicts_follow_the_heartbeats_and_the_done_marks(tmp_path):
    guard = guard_on(tmp_path)
    assert guard.verdict("t1") == RUN  # nobody runs it
    guard.store.heartbeat("w2@test", {"interval": 2.0, "active": [{"id": "t1"}]})
    assert guard.verdict("t1") == RUNNING  # a live worker lists it as active
    guard.record_done("t1")
    assert guard.verdict("t1") == DONE  # done beats running: the mark is written before the heartbeat drops it
    assert guard.verdict("t2") == RUN


def test_a_stale_heartbeat_does_not_hold_a_task_back(tmp_path):
    guard = guard_on(tmp_path)
    store = guard.store
    store._now = lambda: time.time() - 60  # written a minute ago: that worker is gone
    store.heartbeat("dead@test", {"interval": 2.0, "active": [{"id": "t1"}]})
    store._now = time.time
    assert guard.verdict("t1") == RUN


def test_only_redeliveries_and_held_copies_are_checked(tmp_path):
    guard = guard_on(tmp_path)
    first = SimpleNamespace(attempts=1)
    again = SimpleNamespace(attempts=2)
    plain = SimpleNamespace(headers={})
    assert not guard.applies_to(first, plain)
    assert guard.applies_to(again, plain)
    held = guard.held_back(_envelope())
    assert held.headers[GUARD_HEADER] == 1 and guard.applies_to(first, held)
    assert guard.held_back(held).headers[GUARD_HEADER] == 2


def test_the_recheck_is_never_longer_than_the_lease(tmp_path):
    assert guard_on(tmp_path, lease_ms=5_000).recheck_seconds == 5
    assert guard_on(tmp_path, lease_ms=3_600_000).recheck_seconds == 60


def test_a_store_that_cannot_answer_lets_the_task_run(tmp_path, caplog):
    guard = guard_on(tmp_path)
    guard.store.close()

    def broken(*args, **kwargs):
        raise OSError("disk gone")

    guard.store.lock_owner = broken
    # Another test in this process may have set up logging as a worker does (propagation off, a level, or
    # dictConfig disabling existing loggers): listen on the worker's logger itself, enabled at WARNING.
    worker_logger = logging.getLogger("cfq_shim.worker")
    saved = worker_logger.disabled, worker_logger.level
    worker_logger.disabled = False
    worker_logger.setLevel(logging.WARNING)
    worker_logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.WARNING)
    try:
        assert guard.verdict("t1") == RUN
    finally:
        worker_logger.removeHandler(caplog.handler)
        worker_logger.disabled, worker_logger.level = saved
    assert any("cannot read" in record.getMessage() for record in caplog.records)


def _envelope():
    from cfq_shim.envelope import Envelope

    return Envelope(id="t1", task="proj.add", args=[], kwargs={}, queue="celery")
