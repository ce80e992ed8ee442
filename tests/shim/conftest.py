"""Fixtures shared by the shim's tests: an app, in-thread workers, and ``wait_until``.

- ``app``: ``Celery("proj", broker="memory://")``, closed after the test. A test file that needs other
  settings overrides ``app`` with ``make_app(...)``.
- ``make_app(main="proj", **settings)``: more apps (memory broker unless ``broker=`` is given), each
  closed after the test.
- ``start_worker(**options)``: a :class:`cfq_shim.worker.Worker` of ``app`` running in a thread
  (``threads`` pool, 2 slots, a short idle back-off unless given), stopped after the test. Prefer
  ``worker.drain(timeout)`` (wait until its queues are empty and nothing runs, as Dramatiq's
  ``join``) over polling; use ``wait_until`` only for a state a drained queue does not show (a task
  that is running, a message that is delayed).
- ``wait_until(predicate, what=..., timeout_seconds=10)``: poll ``predicate`` until it holds; the
  timeout is a safety net, never a measurement.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import pytest

from cfq_shim import Celery
from cfq_shim.worker import Worker

#: Seconds a worker in a test sleeps at most between empty pulls: short, so tests finish quickly.
TEST_IDLE_BACKOFF_SECONDS = 0.02


def _wait_until(predicate: Callable[[], Any], *, what: str = "the condition", timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds  # a safety net only
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """``wait_until(predicate, what="...", timeout_seconds=10.0)``."""
    return _wait_until


@pytest.fixture
def make_app() -> Iterator[Callable[..., Celery]]:
    made: list[Celery] = []

    def make(main: str = "proj", **settings: Any) -> Celery:
        settings.setdefault("broker", "memory://")
        app = Celery(main, **settings)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., Celery]) -> Celery:
    return make_app()


@pytest.fixture
def start_worker(app: Celery) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**options: Any) -> Worker:
        options.setdefault("pool", "threads")
        options.setdefault("concurrency", 2)
        options.setdefault("max_idle_backoff_seconds", TEST_IDLE_BACKOFF_SECONDS)
        worker = Worker(options.pop("app", app), **options).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
