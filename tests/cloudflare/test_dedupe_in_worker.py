"""The worker skips a copy of a task id it completed lately (a retried push stored twice), and only then."""

from __future__ import annotations

import time

import pytest

from cfq_shim import Celery
from cfq_shim.envelope import Envelope, encode
from cfq_shim.worker import Worker

WAIT_SECONDS = 10.0  # safety net only


def wait_until(predicate) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def app():
    app = Celery("dedupeapp", broker="memory://", cfq_queue_max_retries=3)
    yield app
    app.close()


def send_copies(app, task_name: str, task_id: str, copies: int) -> None:
    body = encode(Envelope(id=task_id, task=task_name, args=[1], queue="celery"))
    app.producer.send_many([("celery", body, 0)] * copies)


def settled(app) -> bool:
    stats = app.transport.stats("celery")
    return stats.ready == 0 and stats.in_flight == 0 and stats.delayed == 0


def test_copies_of_one_task_id_run_once(app):
    ran = []

    @app.task(name="dedupeapp.record")
    def record(n):
        ran.append(n)

    send_copies(app, "dedupeapp.record", "task-1", 3)
    worker = Worker(app, pool="solo", max_idle_backoff_seconds=0.02).start()
    try:
        wait_until(lambda: settled(app))
        send_copies(app, "dedupeapp.record", "task-1", 1)  # a late copy, after the first run
        send_copies(app, "dedupeapp.record", "task-2", 1)
        wait_until(lambda: len(ran) == 2 and settled(app))
    finally:
        worker.stop()
    assert ran == [1, 1]  # task-1 once, task-2 once
    assert worker.completed.completed_recently("task-1") and worker.completed.completed_recently("task-2")


def test_a_task_that_retries_is_not_skipped(app):
    runs = []

    @app.task(name="dedupeapp.flaky", bind=True, max_retries=2, default_retry_delay=0)
    def flaky(self, n):
        runs.append(self.request.retries)
        if len(runs) < 3:
            raise self.retry(countdown=0)

    send_copies(app, "dedupeapp.flaky", "task-3", 1)
    worker = Worker(app, pool="solo", max_idle_backoff_seconds=0.02).start()
    try:
        wait_until(lambda: len(runs) == 3 and settled(app))
    finally:
        worker.stop()
    assert runs == [0, 1, 2]
