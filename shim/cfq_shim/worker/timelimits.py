"""Time limits for tasks that run in a thread of the worker process (``-P solo`` and ``-P threads``).

One watchdog thread keeps a heap of deadlines. At a task's ``soft_time_limit`` it raises
:class:`SoftTimeLimitExceeded` inside the task's thread (``PyThreadState_SetAsyncExc``); at its
``time_limit`` it raises :class:`TimeLimitExceeded` the same way. A thread cannot be killed, so in these
pools the hard limit is only a second, stronger request: like the soft one it lands at the next Python
bytecode, not inside a blocking C call (a ``time.sleep`` or a socket read finishes first). The prefork
pool enforces the hard limit for real by ending the child process (see prefork.py).

Tasks without limits never touch the watchdog, so the common path costs nothing.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from typing import Callable, TypeVar

__all__ = ["TimeKeeper", "effective_limits"]

T = TypeVar("T")


def effective_limits(task: object, conf: object | None = None) -> tuple[float | None, float | None]:
    """``(soft_seconds, hard_seconds)`` of ``task``: its own options first, then the app's
    ``task_soft_time_limit`` / ``task_time_limit``; None where there is no limit."""

    def pick(attr: str, setting: str) -> float | None:
        value = getattr(task, attr, None)
        if value is None and conf is not None:
            value = getattr(conf, setting, None) if not isinstance(conf, dict) else conf.get(setting)
        try:
            return float(value) if value else None
        except (TypeError, ValueError):
            return None

    return pick("soft_time_limit", "task_soft_time_limit"), pick("time_limit", "task_time_limit")


def _raise_in_thread(thread_id: int, exc_type: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type is not None else None
    )


class _Guard:
    __slots__ = ("thread_id", "active", "fired")

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.active = True
        self.fired = False


class TimeKeeper:
    """Raises the limit exceptions inside threads running tasks past their limits."""

    def __init__(
        self,
        *,
        soft_exception: type[BaseException],
        hard_exception: type[BaseException],
    ) -> None:
        self._soft_exception = soft_exception
        self._hard_exception = hard_exception
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Guard, type[BaseException]]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call(self, fn: Callable[[], T], *, soft_seconds: float | None, hard_seconds: float | None) -> T:
        """Run ``fn()`` in the calling thread under the given limits.

        ``fn`` is expected to turn a limit exception raised inside it into a value (``execute`` does). An
        exception that lands after ``fn`` returned, in the instant before the guard is lifted, is
        swallowed here and the value ``fn`` returned is kept.
        """
        if soft_seconds is None and hard_seconds is None:
            return fn()
        guard = _Guard(threading.get_ident())
        now = time.monotonic()
        with self._lock:
            if soft_seconds is not None:
                heapq.heappush(self._heap, (now + soft_seconds, next(self._counter), guard, self._soft_exception))
            if hard_seconds is not None:
                heapq.heappush(self._heap, (now + hard_seconds, next(self._counter), guard, self._hard_exception))
            self._ensure_thread()
            self._wakeup.notify()
        results: list[T] = []
        for _ in range(3):
            try:
                if not results:
                    results.append(fn())
                self._lift(guard)
                break
            except (self._soft_exception, self._hard_exception):
                # Landed outside fn (after it returned): the task's own outcome stands.
                if not results:
                    raise
        else:
            self._lift(guard)
        return results[0]

    def _lift(self, guard: _Guard) -> None:
        with self._lock:
            guard.active = False
            if guard.fired:
                # Cancel an exception that was set but has not been raised yet.
                _raise_in_thread(guard.thread_id, None)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch, name="cfq-shim-timekeeper", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        with self._lock:
            while not self._closed:
                if not self._heap:
                    self._wakeup.wait()
                    continue
                deadline, _, guard, exc_type = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._wakeup.wait(delay)
                    continue
                heapq.heappop(self._heap)
                if guard.active:
                    guard.fired = True
                    _raise_in_thread(guard.thread_id, exc_type)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wakeup.notify()
