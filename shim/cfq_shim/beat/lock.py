"""One active beat: a lease lock, plus a claim per run so that no due time is sent twice.

Any number of beat processes may run. Each one tries to hold the lease ``cfq-shim-beat`` for
``lease_seconds``; the holder renews it every third of the lease and is the only one that sends. When
the holder dies, its lease runs out and a standby takes over within ``lease_seconds`` (plus one check
interval). SIGTERM releases the lease at once.

The lease alone cannot rule out two senders (a holder paused past its lease, then resumed), so every
run is also *claimed* before it is sent, keyed by entry name and due time: a claim that was completed
is never granted again. A claim that was granted but not completed (the holder died between claiming
and sending) is granted again to the next holder, which sends the run with the same task id
(:func:`cfq_shim.beat.service.run_task_id`), so a worker can recognise the copy.

Where the lease and the claims live:

- :class:`FileCoordinator`: the ``--schedule`` file, for beats on one machine sharing that file;
- :class:`BackendCoordinator`: the configured result backend (``redis://``, ``db+…``, ``d1://``), for
  beats on several machines.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

from ..results.base import ResultBackend
from .state import ScheduleFile

__all__ = ["Coordinator", "FileCoordinator", "BackendCoordinator", "LEASE_NAME", "CLAIM_OWNER", "CLAIM_KEEP_SECONDS"]

LEASE_NAME = "cfq-shim-beat"
#: Every beat claims runs under the same owner, so a claim a dead holder never completed can be taken
#: again by its successor (who sends the run, with the same task id).
CLAIM_OWNER = "cfq-shim-beat"
#: How long a run's claim is remembered. Claims are only ever asked for recent due times.
CLAIM_KEEP_SECONDS = 7 * 24 * 3600.0


class Coordinator(Protocol):
    """What the beat loop needs to be the only sender."""

    def describe(self) -> str: ...

    def hold(self, owner: str, lease_seconds: float) -> bool:
        """Take the lease or renew it; True when ``owner`` holds it now."""

    def release(self, owner: str) -> None: ...

    def claim(self, key: str) -> bool:
        """True when this run may be sent (never claimed, or claimed and not completed)."""

    def complete(self, key: str) -> None:
        """The run was sent: no later claim of ``key`` succeeds."""


class FileCoordinator:
    """Lease and claims in the schedule file (SQLite): beats on one machine that share ``-s PATH``."""

    def __init__(self, schedule_file: ScheduleFile, *, clock: Callable[[], float] = time.time) -> None:
        self.file = schedule_file
        self.clock = clock

    def describe(self) -> str:
        return f"the schedule file {self.file.path}"

    def hold(self, owner: str, lease_seconds: float) -> bool:
        now = self.clock()
        with self.file.transaction() as conn:
            row = conn.execute("SELECT owner, expires_at FROM beat_lease WHERE name = ?", (LEASE_NAME,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            conn.execute("INSERT OR REPLACE INTO beat_lease (name, owner, expires_at) VALUES (?, ?, ?)",
                         (LEASE_NAME, owner, now + lease_seconds))
            return True

    def release(self, owner: str) -> None:
        with self.file.transaction() as conn:
            conn.execute("DELETE FROM beat_lease WHERE name = ? AND owner = ?", (LEASE_NAME, owner))

    def claim(self, key: str) -> bool:
        now = self.clock()
        with self.file.transaction() as conn:
            conn.execute("DELETE FROM beat_claim WHERE expires_at < ?", (now,))
            row = conn.execute("SELECT done FROM beat_claim WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return not row[0]
            conn.execute("INSERT INTO beat_claim (key, done, expires_at) VALUES (?, 0, ?)", (key, now + CLAIM_KEEP_SECONDS))
            return True

    def complete(self, key: str) -> None:
        with self.file.transaction() as conn:
            conn.execute("UPDATE beat_claim SET done = 1 WHERE key = ?", (key,))


class BackendCoordinator:
    """Lease and claims in the result backend's store (cfq_shim.results): beats on several machines.

    Uses the store's ``acquire_lock``/``release_lock`` and ``claim_once``/``complete_claim``, which
    every backend implements atomically (a conditional write in SQL, Redis or D1)."""

    def __init__(self, backend: ResultBackend) -> None:
        self.backend = backend

    def describe(self) -> str:
        return f"the result backend {self.backend.describe()}"

    def hold(self, owner: str, lease_seconds: float) -> bool:
        return bool(self.backend.acquire_lock(LEASE_NAME, owner, lease_seconds))

    def release(self, owner: str) -> None:
        self.backend.release_lock(LEASE_NAME, owner)

    def claim(self, key: str) -> bool:
        return bool(self.backend.claim_once(f"beat-{key}", CLAIM_OWNER, expires_seconds=CLAIM_KEEP_SECONDS))

    def complete(self, key: str) -> None:
        self.backend.complete_claim(f"beat-{key}", CLAIM_OWNER, expires_seconds=CLAIM_KEEP_SECONDS)
