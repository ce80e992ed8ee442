"""An in-process worker for tests, as ``celery.contrib.testing.worker.start_worker``.

``with start_worker(app) as worker:`` starts a :class:`~cfq_shim.worker.Worker` on the app in a
background thread (the ``solo`` pool by default, as Celery's), yields it once it consumes, and stops it
(warm) on exit. Tasks defined after the start run too: the worker looks each task up when its message
arrives, so ``worker.reload()`` (which Celery's tests call after defining a task) has nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...local import get_current_app, set_current_app, set_default_app
from ...worker import Worker

__all__ = ["TestWorkController", "start_worker", "setup_app_for_worker"]

#: Celery's start_worker() parameters that have no meaning here (logging is the test runner's;
#: the worker is consuming when start() returns, so there is no ping to wait for).
_IGNORED = frozenset({"loglevel", "logfile", "perform_ping_check", "ping_task_timeout", "without_heartbeat",
                      "without_mingle", "without_gossip"})
_WORKER_ARGUMENTS = frozenset({"concurrency", "queues", "hostname", "batch_size", "visibility_timeout_ms",
                               "prefetch_multiplier", "max_tasks_per_child", "disable_rate_limits"})


class TestWorkController(Worker):
    """The worker :func:`start_worker` yields: a :class:`~cfq_shim.worker.Worker` with Celery's test
    worker's ``reload()``."""

    __test__ = False  # not a pytest test class

    def reload(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: tasks are looked up per message, so tasks defined after the start run too."""


@contextmanager
def start_worker(app: Any, *, pool: str = "solo", shutdown_timeout: float = 10.0,
                 **parameters: Any) -> Iterator[TestWorkController]:
    """Run a worker for ``app`` in this process while the block runs (see the module docstring).

    Accepts Celery's ``start_worker`` parameters: ``concurrency``, ``queues``, ``hostname``,
    ``shutdown_timeout`` and the worker options of :class:`~cfq_shim.worker.Worker`; ``loglevel``,
    ``logfile`` and the ping-check ones are accepted and ignored. Another name is a TypeError.
    """
    unknown = sorted(set(parameters) - _IGNORED - _WORKER_ARGUMENTS)
    if unknown:
        raise TypeError(f"start_worker() got unexpected parameter(s) {', '.join(unknown)}; cfq_shim's test worker "
                        f"takes {', '.join(sorted(_WORKER_ARGUMENTS | {'pool', 'shutdown_timeout'}))}")
    options = {k: v for k, v in parameters.items() if k in _WORKER_ARGUMENTS}
    if isinstance(options.get("queues"), str):
        options["queues"] = [q for q in options["queues"].split(",") if q]
    with setup_app_for_worker(app):
        worker = TestWorkController(app, pool=pool, **options)
        worker.start(timeout_seconds=shutdown_timeout)
        try:
            yield worker
        finally:
            worker.stop(warm=True, timeout_seconds=shutdown_timeout)


@contextmanager
def setup_app_for_worker(app: Any) -> Iterator[None]:
    """Make ``app`` the current and default app for the block, then put the previous one back."""
    previous = get_current_app()
    app.set_current()
    try:
        yield
    finally:
        set_current_app(previous)
        set_default_app(previous)
