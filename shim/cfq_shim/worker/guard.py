"""The running guard: a message delivered again while its task still runs is held back, not run twice.

Cloudflare cannot extend a lease. A task without a time limit that outlives its lease (one hour by
default) is delivered again, and another worker (or the same one) would start it while the first run goes
on. Where the workers share a store (the control store: the result backend, or ``control.sqlite3``
beside an embedded broker on one machine; :func:`cfq_shim.control.store.control_store`), the worker asks,
for every message delivered more than once:

- **done?** A run that finished after its lease ran out leaves a mark (``cfq-task-done:<id>``, a lock
  record kept for longer than any lease): the copy is acked without running.
- **running on a live worker?** (:func:`cfq_shim.control.heartbeat.is_task_running`: a worker whose
  heartbeat is fresh lists the task among its active ones.) The copy is sent back to its queue with a
  delay (:data:`RECHECK_SECONDS`, or the lease when shorter) as a new message marked with
  :data:`GUARD_HEADER`, and the leased copy is acked: the check costs no delivery attempt, so it never
  pushes the message to its dead-letter queue. The marked copy is checked again when it comes back.
- **otherwise** it runs: the first run's worker died (its heartbeat went stale), so the crash is
  recovered within a lease, as before.

First deliveries are never checked, so the guard costs nothing on the common path. Without a shared store
(``cloudflare://`` with no ``result_backend``) there is no guard; the worker says so once at start-up.
Heartbeats are keyed by worker name: give each worker its own ``-n`` name, as Celery requires.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from ..control.heartbeat import is_task_running

if TYPE_CHECKING:  # pragma: no cover
    from ..envelope import Envelope
    from ..limits import Limits
    from ..results import ResultBackend
    from ..transport.base import LeasedMessage

__all__ = ["RunningGuard", "GUARD_HEADER", "RECHECK_SECONDS", "RUN", "RUNNING", "DONE"]

logger = logging.getLogger("cfq_shim.worker")

#: Envelope header of a copy the guard sent back: the number of times it was.
GUARD_HEADER = "cfq_guard_holds"
#: How long a held-back copy waits before it is checked again (shorter when the lease is shorter): the
#: time a crash of the first run's worker may stay unnoticed, on top of the heartbeat's staleness bound.
RECHECK_SECONDS = 60
_DONE_PREFIX = "cfq-task-done:"

RUN, RUNNING, DONE = "run", "running", "done"


class RunningGuard:
    """Decides what a redelivered message does (:meth:`verdict`) and marks runs that outlived their lease
    (:meth:`record_done`)."""

    def __init__(self, store: "ResultBackend", *, hostname: str, limits: "Limits", lease_ms: int) -> None:
        self.store = store
        self.hostname = hostname
        self.recheck_seconds = max(1, min(RECHECK_SECONDS, lease_ms // 1000 or 1))
        #: A done mark must outlive every copy: the longest lease, plus a held copy's wait.
        self.done_ttl_seconds = limits.max_visibility_timeout_ms / 1000 + limits.max_delay_seconds

    @staticmethod
    def applies_to(message: "LeasedMessage", envelope: "Envelope") -> bool:
        """Only messages delivered before (or copies the guard sent back) are checked."""
        return message.attempts > 1 or GUARD_HEADER in envelope.headers

    def verdict(self, task_id: str) -> str:
        """:data:`DONE`, :data:`RUNNING` (on a live worker) or :data:`RUN`. A store that cannot answer
        lets the task run (at-least-once, as without a guard) and says why."""
        try:
            if self.store.lock_owner(_DONE_PREFIX + task_id) is not None:
                return DONE
            return RUNNING if is_task_running(self.store, task_id) else RUN
        except Exception as exc:  # noqa: BLE001 - the guard must never lose a message
            logger.warning("Running guard: cannot read %s (%s); task %s runs.", self.store.describe(), exc, task_id)
            return RUN

    def held_back(self, envelope: "Envelope") -> "Envelope":
        """The copy to send back: the same task, marked as held once more."""
        holds = int(envelope.headers.get(GUARD_HEADER) or 0) + 1
        return replace(envelope, headers={**envelope.headers, GUARD_HEADER: holds})

    def record_done(self, task_id: str) -> None:
        """Mark ``task_id`` as run, for copies delivered while it ran past its lease."""
        try:
            self.store.acquire_lock(_DONE_PREFIX + task_id, self.hostname, self.done_ttl_seconds)
        except Exception as exc:  # noqa: BLE001 - a copy then runs again: at-least-once, as without a guard
            logger.warning("Running guard: cannot mark task %s as done in %s (%s).", task_id, self.store.describe(), exc)
