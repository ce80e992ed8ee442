"""The ``--schedule`` file: an SQLite database that remembers, per entry, the last due time sent.

Celery's default file name (``celerybeat-schedule`` in the working directory) is kept, so the same
command restarted in the same folder continues where it stopped. The same file also holds the lease
and the per-run claims that let several beat processes on one machine share it
(:class:`cfq_shim.beat.lock.FileCoordinator`).

Times are stored as UTC epoch seconds. Every write is one short ``BEGIN IMMEDIATE`` transaction, so
several processes can share the file (SQLite's locking) and a crash leaves it consistent.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime, timezone
from typing import Mapping

__all__ = ["ScheduleFile", "ScheduleFileError", "DEFAULT_SCHEDULE_FILENAME"]

#: Celery's default ``beat_schedule_filename``.
DEFAULT_SCHEDULE_FILENAME = "celerybeat-schedule"
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS beat_entry (
    name TEXT PRIMARY KEY,
    last_due REAL NOT NULL,            -- the last due time sent (or skipped), UTC epoch seconds
    total_run_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS beat_lease (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS beat_claim (
    key TEXT PRIMARY KEY,              -- entry name + due time
    done INTEGER NOT NULL DEFAULT 0,   -- 0: claimed, being sent; 1: sent
    expires_at REAL NOT NULL
);
"""


class ScheduleFileError(Exception):
    """The schedule file cannot be opened or is not one of ours (the message names the path and why)."""


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


class ScheduleFile:
    """One process's handle on the schedule file (thread-safe: one connection behind a lock)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 30000")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and not tables & {"beat_entry"}:
                raise ScheduleFileError(f"{path!r} is an SQLite database but not a cfq-shim schedule file")
            if version > _SCHEMA_VERSION:
                raise ScheduleFileError(f"{path!r} was written by a newer cfq-shim (schema {version})")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise ScheduleFileError(
                f"cannot read the schedule file {path!r}: {exc} (a file left by Celery's beat is not readable "
                "here: delete it, or pass -s/--schedule with another path)") from None
        except OSError as exc:
            raise ScheduleFileError(f"cannot open the schedule file {path!r}: {exc.strerror or exc}") from None

    def transaction(self) -> "_Transaction":
        """``with file.transaction() as conn:`` one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        return _Transaction(self)

    # -- per-entry state ---------------------------------------------------------------------------
    def start_entries(self, first_runs: Mapping[str, datetime]) -> None:
        """Give entries seen for the first time their last due time (Celery's rule is "now": a new
        entry first runs at its next due time, not at once). Known entries keep theirs."""
        with self.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO beat_entry (name, last_due) VALUES (?, ?)",
                             [(name, _epoch(moment)) for name, moment in first_runs.items()])

    def last_due(self, name: str) -> datetime | None:
        with self._lock:
            row = self._conn.execute("SELECT last_due FROM beat_entry WHERE name = ?", (name,)).fetchone()
        return _moment(row[0]) if row else None

    def run_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._conn.execute("SELECT name, total_run_count FROM beat_entry"))

    def record(self, name: str, due: datetime, *, sent: bool) -> None:
        """Remember ``due`` as the entry's last due time (never moving it backwards)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO beat_entry (name, last_due, total_run_count) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET last_due = MAX(last_due, excluded.last_due), "
                "total_run_count = total_run_count + excluded.total_run_count",
                (name, _epoch(due), 1 if sent else 0),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Transaction:
    def __init__(self, file: ScheduleFile) -> None:
        self.file = file

    def __enter__(self) -> sqlite3.Connection:
        self.file._lock.acquire()
        try:
            self.file._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.file._lock.release()
            raise
        return self.file._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.file._conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.file._lock.release()
