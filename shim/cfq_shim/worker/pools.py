"""Execution pools: where a job's task runs.

- ``solo``: in the consumer loop's own thread, one task at a time (``-c`` is ignored).
- ``threads``: ``-c`` threads of the worker process sharing one local queue, so a message waits only
  when every thread is busy.
- ``prefork``: ``-c`` child processes (see prefork.py).

Every pool takes jobs with :meth:`Pool.submit`, reports each one's outcome to ``on_done`` (from whatever
thread ran it) and hands back the jobs that have not started with :meth:`Pool.take_unstarted` (warm
shutdown, or jobs that waited too long behind busy slots).
"""

from __future__ import annotations

import abc
import collections
import os
import threading
import time
import traceback
from typing import TYPE_CHECKING, Callable

from ..execution import Failed
from .jobs import Job
from .shutdown import ColdShutdown

if TYPE_CHECKING:  # pragma: no cover
    from ..execution import Outcome

__all__ = ["Pool", "QueuedPool", "SoloPool", "ThreadPool", "Runner", "OnDone"]

#: Runs one job's task in the calling thread and says how it ended.
Runner = Callable[[Job], "Outcome"]
#: Receives each job with its outcome.
OnDone = Callable[[Job, "Outcome"], None]


class Pool(abc.ABC):
    name: str = ""
    #: True when :meth:`submit` runs the job in the calling thread (solo).
    runs_in_caller = False

    def __init__(self, *, concurrency: int, runner: Runner, on_done: OnDone) -> None:
        self.concurrency = max(1, concurrency)
        self._runner = runner
        self._on_done = on_done
        #: Jobs running in this process's threads (solo, threads), for inspect().active().
        self._in_thread: set[Job] = set()
        self._in_thread_lock = threading.Lock()

    def start(self) -> None:
        """Start threads or processes."""

    @abc.abstractmethod
    def submit(self, job: Job) -> None:
        """Run ``job`` as soon as a slot is free (solo: now, in the calling thread)."""

    def submit_many(self, jobs: list[Job]) -> None:
        """Submit ``jobs`` in order (a pool with a local queue takes them in one go)."""
        for job in jobs:
            self.submit(job)

    def take_unstarted(self) -> list[Job]:
        """Remove and return the jobs that have not started yet."""
        return []

    @property
    @abc.abstractmethod
    def busy(self) -> int:
        """Jobs submitted and not finished (waiting ones included)."""

    def join(self, timeout_seconds: float) -> bool:
        """Wait until no job is running or waiting; False on timeout."""
        deadline = time.monotonic() + timeout_seconds
        while self.busy:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def stop(self, *, cold: bool = False) -> None:
        """Release threads or processes. ``cold``: do not wait for running tasks."""

    def running(self) -> list[tuple[Job, int, float]]:
        """``(job, pid, running since (monotonic))`` for each job whose task runs now."""
        pid = os.getpid()
        with self._in_thread_lock:
            return [(job, pid, job.started_at or time.monotonic()) for job in self._in_thread]

    def terminate(self, job: Job, signum: int) -> bool:
        """End the task of ``job`` with ``signum``; False when this pool cannot (a task running in a
        thread of the worker process cannot be ended alone)."""
        return False

    def _run(self, job: Job) -> None:
        job.started_at = time.monotonic()
        with self._in_thread_lock:
            self._in_thread.add(job)
        try:
            outcome = self._runner(job)
        except ColdShutdown:
            raise
        except BaseException as exc:  # noqa: BLE001 - sys.exit() in a task must not kill a pool thread
            outcome = Failed(type(exc).__name__, str(exc), traceback.format_exc())
        finally:
            with self._in_thread_lock:
                self._in_thread.discard(job)
        self._on_done(job, outcome)


class SoloPool(Pool):
    """Runs each job at once, in the thread that submits it (the consumer loop)."""

    name = "solo"
    runs_in_caller = True

    def __init__(self, *, concurrency: int, runner: Runner, on_done: OnDone) -> None:
        super().__init__(concurrency=1, runner=runner, on_done=on_done)
        self._running = 0

    def submit(self, job: Job) -> None:
        self._running += 1
        try:
            self._run(job)
        finally:
            self._running -= 1

    @property
    def busy(self) -> int:
        return self._running


class QueuedPool(Pool):
    """A pool whose slots take jobs from one local queue (threads, and the prefork pool's slot threads)."""

    def __init__(self, *, concurrency: int, runner: Runner, on_done: OnDone) -> None:
        super().__init__(concurrency=concurrency, runner=runner, on_done=on_done)
        self._waiting: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._running = 0
        self._closing = False
        #: Slots blocked in :meth:`_next_jobs` waiting for work.
        self._idle_slots = 0

    def submit(self, job: Job) -> None:
        with self._cond:
            self._waiting.append(job)
            self._cond.notify()

    def submit_many(self, jobs: list[Job]) -> None:
        # One wake-up of the slots for a whole pulled batch, so each takes its share at once.
        if jobs:
            with self._cond:
                self._waiting.extend(jobs)
                self._cond.notify(len(jobs))

    def take_unstarted(self) -> list[Job]:
        with self._cond:
            jobs = list(self._waiting)
            self._waiting.clear()
            return jobs

    @property
    def busy(self) -> int:
        with self._cond:
            return self._running + len(self._waiting)

    def _next_job(self) -> Job | None:
        """The next job for a slot (counted as running), or None once the pool is closing."""
        jobs = self._next_jobs(1)
        return jobs[0] if jobs else None

    def _next_jobs(self, limit: int, *, wait: bool = True) -> list[Job]:
        """Up to ``limit`` jobs for one slot (counted as running), at most its fair share of those
        waiting: shared with the other slots that wait for work now (a busy slot takes its share when
        it is done, from what waits then); [] once the pool is closing and nothing waits (without
        ``wait``: [] at once when nothing waits)."""
        with self._cond:
            while wait and not self._waiting and not self._closing:
                self._idle_slots += 1
                try:
                    self._cond.wait()
                finally:
                    self._idle_slots -= 1
            waiting = len(self._waiting)
            if not waiting:
                return []
            count = max(1, min(limit, -(-waiting // (1 + self._idle_slots))))
            self._running += count
            return [self._waiting.popleft() for _ in range(count)]

    def _give_back(self, jobs: list[Job]) -> None:
        """Jobs a slot took and did not start (its process was ended or retired): first in line again."""
        with self._cond:
            self._waiting.extendleft(reversed(jobs))
            self._running -= len(jobs)
            self._cond.notify_all()

    def _slot_done(self, count: int = 1) -> None:
        with self._cond:
            self._running -= count

    def _close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()


class ThreadPool(QueuedPool):
    """``concurrency`` daemon threads taking jobs from one local queue."""

    name = "threads"

    def __init__(self, *, concurrency: int, runner: Runner, on_done: OnDone) -> None:
        super().__init__(concurrency=concurrency, runner=runner, on_done=on_done)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"cfq-shim-task-{index + 1}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                self._run(job)
            finally:
                self._slot_done()

    def stop(self, *, cold: bool = False) -> None:
        self._close()
        if not cold:
            for thread in self._threads:
                thread.join()
