"""``sqlite:///path``: results in an SQLite file shared by every process on the machine (the embedded
backend), and ``memory://``: the same statements on a private in-memory database, for tests.

``sqlite:///relative/results.db`` is relative to the working directory, ``sqlite:////abs/results.db``
absolute; the parent directory is created when missing. The file may be the broker's own
(``sqlite:///.cfq-shim/queues.sqlite3``): the result tables have their own names.

Each thread has its own connection (WAL mode, ``busy_timeout``); a write is one ``BEGIN IMMEDIATE``
transaction, so concurrent processes serialise on the file's write lock. After ``fork()`` a child opens
its own connections and never touches the parent's.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any, Callable, Sequence
from urllib.parse import unquote, urlsplit

from .base import ResultBackendError, UnsupportedResultBackend
from .sql import SQLResultBackend, Statement, StatementResult

__all__ = ["SQLiteResultBackend", "MemoryResultBackend"]

_MEMORY = ":memory:"
#: How long a writer waits for another process's write lock before giving up (ms).
BUSY_TIMEOUT_MS = 30_000


def path_from_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc:
        raise UnsupportedResultBackend(
            f"sqlite result backend URLs take no host (got {parts.netloc!r}): use sqlite:///relative/results.db "
            "or sqlite:////absolute/results.db"
        )
    path = unquote(parts.path)[1:]
    if not path or path.endswith("/"):
        raise UnsupportedResultBackend(
            "a sqlite:// result backend URL needs a file path: sqlite:///relative/results.db or "
            "sqlite:////absolute/results.db"
        )
    return path


class SQLiteResultBackend(SQLResultBackend):
    scheme = "sqlite"
    shared_between_processes = True
    shared_between_machines = False
    poll_interval_seconds = 0.02
    max_poll_interval_seconds = 0.2

    def __init__(self, path: str, *, now: Callable[[], float] = time.time) -> None:
        super().__init__(now=now)
        self.path = path
        self.in_memory = path == _MEMORY
        if not self.in_memory:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self._shared_lock = threading.RLock()
        self._pid = os.getpid()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._run(self._schema_statements(), write=True)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "SQLiteResultBackend":
        return cls(path_from_url(url), **options)

    # -- connections --------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not self.in_memory:
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        with self._opened_lock:
            self._opened.append(conn)
        return conn

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection) -> None:
        # Switching to WAL needs the file to itself; another process creating it answers "locked"
        # without waiting, so retry briefly.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.002
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if time.monotonic() >= deadline or ("locked" not in str(exc) and "busy" not in str(exc)):
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _connection(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            if self.in_memory:
                raise ResultBackendError(
                    "memory:// results live in one process and cannot be read after fork(); use "
                    "sqlite:///path/to/results.db to share results between processes"
                )
            self.reset_after_fork()
        if self.in_memory:
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def reset_after_fork(self) -> None:
        self._local = threading.local()
        self._shared = None
        self._opened = []
        self._opened_lock = threading.Lock()
        self._pid = os.getpid()

    def _run(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        if self.in_memory:
            with self._shared_lock:
                return self._run_on(self._connection(), statements, write)
        return self._run_on(self._connection(), statements, write)

    @staticmethod
    def _run_on(conn: sqlite3.Connection, statements: Sequence[Statement], write: bool) -> list[StatementResult]:
        if len(statements) == 1 and not write:
            cursor = conn.execute(statements[0].sql, statements[0].params)
            return [StatementResult(cursor.fetchall(), cursor.rowcount)]
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            results = []
            for statement in statements:
                cursor = conn.execute(statement.sql, statement.params)
                results.append(StatementResult(cursor.fetchall(), cursor.rowcount))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return results

    def close(self) -> None:
        if os.getpid() != self._pid:
            self.reset_after_fork()
            return
        if self.in_memory:
            return  # closing would drop every result: memory:// lives as long as the backend object
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass
        self._local = threading.local()

    def describe(self) -> str:
        return "memory://" if self.in_memory else f"sqlite:///{self.path}"


class MemoryResultBackend(SQLiteResultBackend):
    """``memory://``: one process only; two backends never see each other's results."""

    scheme = "memory"
    shared_between_processes = False
    poll_interval_seconds = 0.005

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        super().__init__(_MEMORY, now=now)

    @classmethod
    def from_url(cls, url: str = "memory://", **options: Any) -> "MemoryResultBackend":
        parts = urlsplit(url)
        if parts.netloc or parts.path not in ("", "/"):
            raise UnsupportedResultBackend("use exactly 'memory://' for in-process results")
        return cls(**options)
