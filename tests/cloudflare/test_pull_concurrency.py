"""A worker keeps up to ``transport.pull_concurrency`` pulls in flight while there is work, and one when idle."""

from __future__ import annotations

import threading
import time

import pytest

from cfq_shim import Celery
from cfq_shim.worker import Worker

WAIT_SECONDS = 20  # safety net only


class RoundTripPulls:
    """Wraps a transport: every pull takes a short round trip; records how many run at once."""

    pull_concurrency = 3

    def __init__(self, inner) -> None:
        self._inner = inner
        self.in_flight = 0
        self.most_in_flight = 0
        self.pulls = 0
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def pull(self, queue, *, batch_size, visibility_timeout_ms):
        with self._lock:
            self.in_flight += 1
            self.pulls += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.02)  # the round trip, during which other pulls may start
            return self._inner.pull(queue, batch_size=batch_size, visibility_timeout_ms=visibility_timeout_ms)
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def app():
    app = Celery("pullapp", broker="memory://")
    app._transport = RoundTripPulls(app.transport)  # before the producer and the worker open it
    yield app
    app.close()


def wait_until(predicate) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_pulls_overlap_up_to_the_transports_concurrency(app):
    ran = []

    @app.task(name="pullapp.noop")
    def noop(n):
        ran.append(n)

    for n in range(3_000):
        noop.delay(n)
    worker = Worker(app, pool="threads", concurrency=4, max_idle_backoff_seconds=0.02).start()
    try:
        wait_until(lambda: len(ran) == 3_000)
    finally:
        worker.stop()
    assert sorted(ran) == list(range(3_000))
    assert 2 <= app.transport.most_in_flight <= 3


def test_an_idle_queue_is_polled_by_one_pull_at_a_time(app):
    worker = Worker(app, pool="threads", concurrency=4, max_idle_backoff_seconds=0.02).start()
    try:
        wait_until(lambda: app.transport.pulls >= 15)
    finally:
        worker.stop()
    assert app.transport.most_in_flight == 1
