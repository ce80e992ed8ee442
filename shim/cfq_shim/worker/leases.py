"""How many messages to lease, and for how long.

**How many.** The worker leases only what its execution slots can start now. A slot is one thread or
child process (``-c``); ``solo`` has one. For slow tasks that is exactly the number of free slots, so no
message waits behind a long task while another worker could run it. For fast tasks one pull per task
would cost more than the tasks, so each slot may take a short queue of its own: ``depth`` messages,
where ``depth`` is how many of the recent tasks fit in :data:`TARGET_SLOT_BACKLOG_SECONDS` (0.1 s) of
work, at most ``batch_size``. The estimate rises at once when a slow task is seen and falls back slowly, so one slow task
brings depth back to 1. A pull asks for ``min(batch_size, slots * depth - leased)`` messages, and only
once at least half of that room is free (whole batches, and the next pull in flight while the current
batch runs). With a transport that runs several pull loops (``pull_concurrency``, Cloudflare over
HTTP), fast tasks may have one such pull in flight per loop; slow tasks still get exactly the free slots. ``--prefetch-multiplier N`` fixes the depth at N instead (Celery's flag, without its
default of 4: here the default is the adaptive depth).

**For how long.** Cloudflare cannot extend a lease, so the lease must cover the whole batch:

    lease_ms = min(limits.max_visibility_timeout_ms,
                   max(base_ms, ceil(n / slots) * per_task_ms + LEASE_MARGIN_MS))

where ``n`` is the number asked for, ``base_ms`` is ``--visibility-timeout`` (else the app's
``broker_visibility_timeout``, else ``limits.default_visibility_timeout_ms``) and ``per_task_ms`` is the
longest ``time_limit`` (or ``soft_time_limit`` where there is no hard one) among the tasks routed to the
queue, or the recent run-time estimate when no task of the queue has a limit. A task without a time
limit that runs longer than ``base_ms`` is delivered again to another worker: give long tasks a
``time_limit`` or raise ``--visibility-timeout``.
"""

from __future__ import annotations

import math
import threading

__all__ = ["TARGET_SLOT_BACKLOG_SECONDS", "LEASE_MARGIN_MS", "Prefetch", "lease_ms_for"]

#: Work a slot may have queued ahead of it, in seconds of recent run time.
TARGET_SLOT_BACKLOG_SECONDS = 0.1
#: Added to every computed lease: pull, hand-off and ack take time too.
LEASE_MARGIN_MS = 5_000
#: How fast the run-time estimate forgets a slow task (per finished task).
_DECAY = 0.05


def lease_ms_for(
    n: int,
    *,
    slots: int,
    base_ms: int,
    per_task_seconds: float | None,
    max_ms: int,
) -> int:
    """The lease for a pull of ``n`` messages (see the module docstring)."""
    rounds = math.ceil(max(1, n) / max(1, slots))
    needed = base_ms
    if per_task_seconds:
        needed = max(base_ms, int(rounds * per_task_seconds * 1000) + LEASE_MARGIN_MS)
    return max(1, min(max_ms, needed))


class Prefetch:
    """Counts leased-and-unfinished messages and says how many more to lease."""

    def __init__(self, *, slots: int, max_batch: int, fixed_depth: int | None = None, pullers: int = 1) -> None:
        self.slots = max(1, slots)
        self.max_batch = max(1, max_batch)
        #: ``--prefetch-multiplier``: a depth chosen by the user instead of the adaptive one.
        self.fixed_depth = fixed_depth
        #: Concurrent pull loops (the Puller sets it from the transport's ``pull_concurrency``): with fast
        #: tasks each may have a full pull in flight, so the worker may hold ``pullers`` times the one-pull
        #: capacity; with slow tasks it is still exactly the free slots.
        self.pullers = max(1, pullers)
        self._cond = threading.Condition()
        #: Leased (or claimed for a pull in flight) and not finished.
        self._outstanding = 0
        #: Estimated seconds per task; None until one has run (depth stays 1 until then).
        self._runtime_estimate: float | None = None
        self._closed = False

    @property
    def outstanding(self) -> int:
        with self._cond:
            return self._outstanding

    @property
    def runtime_estimate_seconds(self) -> float | None:
        return self._runtime_estimate

    def depth(self) -> int:
        # At most one pull's worth per slot: with several slots, that lets the next pull be in flight
        # while the slots run the last one (a multi-process pool needs it to keep its children busy).
        per_slot = self.max_batch
        if self.fixed_depth is not None:
            return max(1, min(per_slot, self.fixed_depth))
        estimate = self._runtime_estimate
        if estimate is None:
            return 1
        if estimate <= 0:
            return per_slot
        return max(1, min(per_slot, int(TARGET_SLOT_BACKLOG_SECONDS / estimate)))

    def _room(self) -> tuple[int, int]:
        depth = self.depth()
        if depth == 1:
            # Slow tasks: exactly the free slots, whatever the number of pullers.
            return min(self.max_batch, self.slots - self._outstanding), 1
        capacity = self.slots * depth
        per_pull = min(self.max_batch, capacity)
        room = min(per_pull, max(capacity, per_pull * self.pullers) - self._outstanding)
        return room, max(1, per_pull // 2)

    def claim(self, timeout_seconds: float) -> int:
        """Block until a pull is worth making and claim room for it: return how many to ask for (0 on
        timeout or close). The claim counts as leased at once, so concurrent pullers never lease more
        than the slots can take; give back what the pull did not bring with :meth:`unclaim`."""
        with self._cond:
            room, threshold = self._room()
            if room < threshold and not self._closed:
                self._cond.wait(timeout_seconds)
                room, threshold = self._room()
            if self._closed or room < threshold:
                return 0
            self._outstanding += room
            return room

    def unclaim(self, n: int) -> None:
        """Give back ``n`` claimed places that a pull did not fill."""
        if n > 0:
            with self._cond:
                self._outstanding -= n
                self._cond.notify_all()

    def release(self, n: int = 1, *, runtime_seconds: float | None = None) -> None:
        with self._cond:
            self._outstanding -= n
            if runtime_seconds is not None:
                estimate = self._runtime_estimate
                if estimate is None or runtime_seconds > estimate:
                    self._runtime_estimate = runtime_seconds
                else:
                    self._runtime_estimate = estimate + (runtime_seconds - estimate) * _DECAY
            room, threshold = self._room()
            if room >= threshold:
                # Wake the pullers only once a pull is worth making: a wake-up per finished task would
                # cost the worker more than the task.
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
