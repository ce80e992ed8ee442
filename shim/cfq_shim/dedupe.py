"""Skipping duplicate deliveries: the task ids a worker completed within a window.

Cloudflare Queues delivers at least once, and a push that the SDK retries after a lost answer may
have been stored twice. Both copies carry the same task id (the envelope's ``id``). The worker asks
:meth:`CompletedTasks.completed_recently` before running a task and, when the task id finished within
the window, acks the copy without running it; after a task reaches a final outcome (succeeded, failed
for good and dead-lettered, ignored, rejected without requeue, expired) it calls
:meth:`CompletedTasks.record_completed`.

What it does not cover (docs/cloudflare.md says so too): the memory is per worker process, so a
duplicate picked up by another process runs again; a task that is waiting to be retried is not
"completed", so a duplicate arriving meanwhile runs; after ``window_seconds`` (or once
``max_entries`` newer ids were recorded) an id is forgotten. Tasks should stay idempotent, as Celery
and Cloudflare both advise; this window only makes the common duplicate cheap and invisible.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

__all__ = ["CompletedTasks", "DEFAULT_WINDOW_SECONDS", "DEFAULT_MAX_ENTRIES"]

#: How long a completed task id is remembered. A retried push lands within seconds of the first.
DEFAULT_WINDOW_SECONDS = 3600.0
#: Bound on memory: ~100 bytes per id, so 10 MB at most.
DEFAULT_MAX_ENTRIES = 100_000


class CompletedTasks:
    """Thread-safe memory of recently completed task ids, oldest forgotten first."""

    def __init__(
        self,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_seconds < 0 or max_entries < 0:
            raise ValueError("window_seconds and max_entries must not be negative")
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._completed_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def record_completed(self, task_id: str) -> None:
        """Remember that ``task_id`` reached a final outcome now."""
        if not task_id or self.max_entries == 0 or self.window_seconds == 0:
            return
        now = self._clock()
        with self._lock:
            self._completed_at[task_id] = now
            self._completed_at.move_to_end(task_id)
            self._forget_old(now)

    def completed_recently(self, task_id: str) -> bool:
        """True when ``task_id`` completed within the window: the delivery is a duplicate."""
        if not task_id:
            return False
        # Asked for every message the worker runs: read the one entry instead of trimming the old ones
        # (record_completed trims them; an entry past the window is no match).
        completed_at = self._completed_at.get(task_id)
        return completed_at is not None and completed_at > self._clock() - self.window_seconds

    def __len__(self) -> int:
        with self._lock:
            self._forget_old(self._clock())
            return len(self._completed_at)

    def _forget_old(self, now: float) -> None:
        # Entries are in completion order, so the expired ones are at the front.
        horizon = now - self.window_seconds
        entries = self._completed_at
        while entries:
            task_id, completed_at = next(iter(entries.items()))
            if completed_at > horizon and len(entries) <= self.max_entries:
                break
            entries.popitem(last=False)
