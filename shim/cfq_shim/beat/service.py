"""The beat loop: hold the lease, send each due entry once per due time, sleep until the next one.

The rules (docs/beat.md, "When entries run"):

- A new entry first runs at its first due time after beat first saw it (Celery's rule).
- Each due time is sent at most once by the holder, and recorded in the ``--schedule`` file, so a
  restart neither repeats a run nor skips one.
- Runs missed while no beat was running are sent **once**, for the most recent missed due time (not
  once per missed period). With ``beat_cron_starting_deadline`` (seconds), a crontab run missed by
  more than that is skipped, as Celery does.
- Each run carries a task id derived from the entry name and the due time (:func:`run_task_id`).

The loop takes a clock and the send function from outside, so tests drive :meth:`Beat.tick` with a
fake clock and real processes run :meth:`Beat.run`. Schedules kept in a database (``-S django``) pass
``reload`` (called every ``reload_every_seconds``) and ``on_sent`` (to record each run there).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

from .entries import Entry
from .lock import Coordinator
from .schedules import crontab
from .state import ScheduleFile

__all__ = ["Beat", "run_task_id", "RUN_ID_NAMESPACE", "DEFAULT_LEASE_SECONDS", "DEFAULT_MAX_INTERVAL_SECONDS"]

logger = logging.getLogger("cfq_shim.beat")

#: How long a holder's lease lasts without renewal: the bound on handover after a holder dies.
DEFAULT_LEASE_SECONDS = 30.0
#: Longest sleep between checks (Celery's default for its file scheduler is 300 s; a standby also
#: checks the lease every third of the lease).
DEFAULT_MAX_INTERVAL_SECONDS = 300.0
#: Wait before trying again after a send failed (the broker was unreachable).
_RETRY_AFTER_FAILURE_SECONDS = 5.0

RUN_ID_NAMESPACE = uuid.UUID("6f1c2a1e-4b0e-4c55-9a53-0c1d5e7b2b9a")


def run_task_id(entry_name: str, due: datetime) -> str:
    """The task id of one run: the same for every beat that sends it, so a copy is recognisable."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{entry_name}\x00{due.astimezone(timezone.utc).isoformat()}"))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Beat:
    """Sends due entries while it holds the lease; waits as a standby otherwise."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        send: Callable[[Entry, datetime, str], None],
        schedule_file: ScheduleFile,
        coordinator: Coordinator,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        max_interval_seconds: float = DEFAULT_MAX_INTERVAL_SECONDS,
        starting_deadline_seconds: float | None = None,
        clock: Callable[[], datetime] = _utcnow,
        owner: str | None = None,
        reload: Callable[[], Sequence[Entry]] | None = None,
        reload_every_seconds: float = 5.0,
        on_sent: Callable[[Entry, datetime], None] | None = None,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("the lease must be positive")
        self.entries = list(entries)
        self.send = send
        self.file = schedule_file
        self.coordinator = coordinator
        self.lease_seconds = float(lease_seconds)
        self.max_interval_seconds = float(max_interval_seconds)
        self.starting_deadline_seconds = starting_deadline_seconds
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.reload = reload
        self.reload_every_seconds = reload_every_seconds
        self.on_sent = on_sent
        self.holding = False
        self._stop = threading.Event()
        self._started = False
        self._reloaded_at: datetime | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Record the entries seen for the first time (their first run is their next due time)."""
        if not self._started:
            self._remember_new_entries()
            self._started = True

    def _remember_new_entries(self) -> None:
        now = self.clock()
        self.file.start_entries({entry.name: entry.first_last_run or now for entry in self.entries})

    def _maybe_reload(self, now: datetime) -> None:
        if self.reload is None:
            return
        if self._reloaded_at is not None and (now - self._reloaded_at).total_seconds() < self.reload_every_seconds:
            return
        self.entries = list(self.reload())
        self._reloaded_at = now
        self._remember_new_entries()

    def run(self) -> None:
        """Tick until :meth:`stop`; release the lease on the way out."""
        self.start()
        try:
            while not self._stop.is_set():
                self._stop.wait(self.tick())
        finally:
            self.release()

    def stop(self) -> None:
        self._stop.set()

    def release(self) -> None:
        if self.holding:
            self.holding = False
            try:
                self.coordinator.release(self.owner)
                logger.info("beat: released the lease")
            except Exception as exc:  # the lease then simply runs out
                logger.warning("beat: could not release the lease (%s); it expires in %.0f s", exc, self.lease_seconds)

    # -- one pass ----------------------------------------------------------------------------------
    def tick(self) -> float:
        """Send what is due if this process holds the lease; return the seconds until the next check."""
        self.start()
        renew_every = self.lease_seconds / 3
        if not self.coordinator.hold(self.owner, self.lease_seconds):
            if self.holding:
                logger.warning("beat: lost the lease to another beat; standing by")
                self.holding = False
            return min(renew_every, self.max_interval_seconds)
        if not self.holding:
            logger.info("beat: holding the lease (%s); sending due entries", self.coordinator.describe())
            self.holding = True
        now = self.clock()
        self._maybe_reload(now)
        next_check = min(renew_every, self.max_interval_seconds)
        if self.reload is not None:
            next_check = min(next_check, self.reload_every_seconds)
        for entry in list(self.entries):
            wait = self._run_entry(entry, now)
            next_check = min(next_check, wait)
        return max(next_check, 0.0)

    def _run_entry(self, entry: Entry, now: datetime) -> float:
        if entry.expires_at is not None and now >= entry.expires_at:
            return self.max_interval_seconds
        last = self.file.last_due(entry.name) or now
        due = entry.schedule.latest_due_at_or_before(last, now)
        if due is None:
            return (entry.schedule.next_run_after(last) - now).total_seconds()
        late = (now - due).total_seconds()
        if entry.start_time is not None and due < entry.start_time:
            self.file.record(entry.name, due, sent=False)  # due before the entry's start_time: not a run
        elif (self.starting_deadline_seconds is not None and isinstance(entry.schedule, crontab)
                and late > self.starting_deadline_seconds):
            logger.warning("beat: %s: skipped the run due at %s (%.0f s late, beat_cron_starting_deadline is %s s)",
                           entry.name, due.isoformat(), late, self.starting_deadline_seconds)
            self.file.record(entry.name, due, sent=False)
        else:
            key = f"{entry.name}@{due.astimezone(timezone.utc).isoformat()}"
            if self.coordinator.claim(key):
                task_id = run_task_id(entry.name, due)
                try:
                    self.send(entry, due, task_id)
                except Exception as exc:
                    logger.error("beat: %s: sending %s failed: %s; trying again in %.0f s",
                                 entry.name, entry.task, exc, _RETRY_AFTER_FAILURE_SECONDS)
                    return _RETRY_AFTER_FAILURE_SECONDS
                self.coordinator.complete(key)
                self.file.record(entry.name, due, sent=True)
                logger.info("beat: Scheduler: Sending due task %s (%s) [due %s, id %s]",
                            entry.name, entry.task, due.isoformat(), task_id)
                self._after_send(entry, due)
            else:
                # Another beat sent it (a holder that lost its lease mid-pass): just remember it.
                self.file.record(entry.name, due, sent=False)
        return (entry.schedule.next_run_after(due) - now).total_seconds()

    def _after_send(self, entry: Entry, due: datetime) -> None:
        if entry.one_off:
            self.entries.remove(entry)
        if self.on_sent is not None:
            try:
                self.on_sent(entry, due)
            except Exception as exc:  # the run was sent; only its bookkeeping failed
                logger.error("beat: %s: sent, but recording the run failed: %s", entry.name, exc)

