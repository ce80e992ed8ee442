"""SQLite connections for the embedded store: one per thread on a file, one shared under a lock in memory.

Every write is a short ``BEGIN IMMEDIATE`` transaction: it takes the file's write lock at once, so two
processes never both read a message as free and both lease it. ``busy_timeout`` makes a writer wait
for the lock instead of failing.

Threads of one process take turns at writing on a lock of their own first (:attr:`Connections.write_lock`).
Without it, two threads that write at once (a worker's puller leasing the next batch while its consumer
acks the last one) meet on SQLite's file lock, and the loser sleeps in SQLite's busy handler: 1, 2, then
5 ms, far longer than the transaction it waits for (measured: a third of a busy worker's time). A lock
between threads hands over as soon as it is released; SQLite's busy handler remains for other processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Callable, Sequence, TypeVar

from ..transport.base import Overloaded
from . import schema

__all__ = ["Connections", "SchemaTooNew"]

MEMORY = ":memory:"
_T = TypeVar("_T")


_forks_survived = 0


def _count_fork() -> None:
    global _forks_survived
    _forks_survived += 1


# A connection must never cross fork(). Counting forks in the child costs nothing per transaction,
# where comparing os.getpid() costs a system call on every one (glibc no longer caches the pid).
os.register_at_fork(after_in_child=_count_fork)


class SchemaTooNew(RuntimeError):
    """The file was written by a newer cfq_shim."""


class Connections:
    """``tables``/``schema_version``/``kind``: the schema created on open (default: the embedded store's;
    the outbox (cfq_shim.sending.outbox) opens its own file with its own).

    ``spin_on_lock``: wait for another connection's write lock in short steps (0.1 ms, doubling to 2 ms)
    instead of SQLite's busy handler, whose first waits are 1, 2 and 5 ms: for a writer whose every call
    must stay fast (an outbox ``.delay()`` beside forwarders that claim and delete).

    ``pragmas``: run on every connection after the store's own (``schema.CONNECTION_PRAGMAS``)."""

    def __init__(self, path: str, *, busy_timeout_ms: int, tables: tuple[str, ...] = schema.TABLES,
                 schema_version: int = schema.SCHEMA_VERSION, kind: str = "embedded-store",
                 spin_on_lock: bool = False, pragmas: tuple[str, ...] = ()) -> None:
        self.path = path
        self.spin_on_lock = spin_on_lock
        self._pragmas = pragmas
        self._tables = tables
        self._schema_version = schema_version
        self._kind = kind
        self.in_memory = path == MEMORY
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        #: Every open connection by the thread that uses it, so a dead thread's connection is closed.
        self._all: dict[threading.Thread, sqlite3.Connection] = {}
        self._all_lock = threading.Lock()
        self._closed = False
        # In memory there is one database per connection, so every thread shares this one; the lock
        # serialises them (SQLite's own locking only works between connections).
        self._shared_lock = threading.RLock()
        self._shared: sqlite3.Connection | None = None
        #: Held by this process's writer for the whole of its write transaction (see the module docstring).
        self.write_lock = threading.RLock()
        self._forks_seen = _forks_survived
        with self.write() as conn:
            self._create_schema(conn)

    # -- opening ------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the embedded store is closed")
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,
            timeout=0 if self.spin_on_lock else self._busy_timeout_ms / 1000,
            cached_statements=256,
        )
        if not self.in_memory:
            # Takes effect only on a new, empty file (before WAL, which fixes the size), so it runs first.
            conn.execute(f"PRAGMA page_size={schema.PAGE_SIZE_BYTES}")
            self._enable_wal(conn)
        conn.execute(f"PRAGMA busy_timeout={0 if self.spin_on_lock else int(self._busy_timeout_ms)}")
        for pragma in (*schema.CONNECTION_PRAGMAS, *self._pragmas):
            conn.execute(pragma)
        with self._all_lock:
            # Threads come and go (a web server may start one per request): close what the dead left.
            for thread in [t for t in self._all if not t.is_alive()]:
                self._all.pop(thread).close()
            self._all[threading.current_thread()] = conn
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (persistent; asking again is cheap and makes an old file WAL too).

        Changing the journal mode needs the file to itself, and SQLite answers "database is locked"
        at once, without its busy handler, while another process is opening or writing the same
        new file. So retry with a short backoff, up to the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        pause_seconds = 0.002
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise self._locked(exc) from exc
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            time.sleep(pause_seconds)
            pause_seconds = min(pause_seconds * 2, 0.05)

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > self._schema_version:
            raise SchemaTooNew(
                f"{self.path} holds {self._kind} schema {version}; this cfq_shim reads up to "
                f"{self._schema_version}. Upgrade cfq_shim or use another file."
            )
        for statement in self._tables:
            conn.execute(statement)
        if version < self._schema_version:
            conn.execute(f"PRAGMA user_version={self._schema_version}")

    def _connection(self) -> sqlite3.Connection:
        if _forks_survived != self._forks_seen:
            if self.in_memory:
                raise RuntimeError(
                    "an in-memory store (memory://) lives in one process and cannot be used after fork(); "
                    "use sqlite:///path to share queues between processes"
                )
            # A connection must never cross fork(): forget the parent's without closing them.
            self._local = threading.local()
            self._all = {}
            self._shared = None
            self.write_lock = threading.RLock()  # another thread may have held it at fork()
            self._forks_seen = _forks_survived
        if self.in_memory:
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    # -- transactions --------------------------------------------------------------------------------
    def write(self) -> "_Transaction":
        """A write transaction holding the database's write lock from its first statement
        (``with connections.write() as conn:``; rolled back when the block raises)."""
        return _Transaction(self, write=True)

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> int:
        """Run one write statement as its own transaction (SQLite's autocommit) and return how many rows
        it changed. Unlike a :meth:`write` block, the write lock is then held only inside SQLite's C code,
        never while this thread waits for the GIL between two statements (which another thread may hold
        for milliseconds). With ``spin_on_lock`` a locked database is retried as :meth:`write` does."""
        db_lock = self._shared_lock if self.in_memory else None
        if db_lock is not None:
            db_lock.acquire()
        try:
            conn = self._connection()
            if not self.spin_on_lock:
                try:
                    return conn.execute(sql, parameters).rowcount
                except sqlite3.OperationalError as exc:
                    raise self._locked(exc) from exc
            return _spinning(lambda: conn.execute(sql, parameters).rowcount, self)
        finally:
            if db_lock is not None:
                db_lock.release()

    def checkpoint(self, mode: str = "PASSIVE", *, wait_ms: int | None = None) -> tuple[int, int, int]:
        """``PRAGMA wal_checkpoint(MODE)`` on this thread's connection (outside any transaction): returns
        (1 if it could not finish for a lock, frames in the write-ahead log, frames copied to the file).
        Modes other than PASSIVE take the write lock and wait for readers, up to ``wait_ms`` (default:
        the connection's busy timeout, none with ``spin_on_lock``)."""
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"unknown checkpoint mode {mode!r}")
        conn = self._connection()
        if wait_ms is not None:
            conn.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
        try:
            busy, log_frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            if wait_ms is not None:
                conn.execute(f"PRAGMA busy_timeout={0 if self.spin_on_lock else int(self._busy_timeout_ms)}")
        return busy, log_frames, copied

    def _locked(self, exc: sqlite3.OperationalError) -> Exception:
        """A lock held longer than busy_timeout is the store being overloaded (retry later)."""
        if "locked" in str(exc) or "busy" in str(exc):
            return Overloaded(
                f"the embedded store {self.path} stayed locked by another connection for "
                f"{self._busy_timeout_ms} ms; try again later"
            )
        return exc

    def read(self) -> "_Transaction":
        """A consistent read (one snapshot in WAL mode)."""
        return _Transaction(self, write=False)

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            conns, self._all = list(self._all.values()), {}
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # closed from another thread already
                pass
        self._shared = None
        self._local = threading.local()


class _Transaction:
    """One transaction on this thread's connection (in memory: under the shared lock).

    A class rather than a generator context manager: every ``.delay()`` opens one, and this costs a
    few microseconds less each time."""

    __slots__ = ("_db", "_write", "_conn", "_lock")

    def __init__(self, db: Connections, *, write: bool) -> None:
        self._db = db
        self._write = write
        self._conn: sqlite3.Connection | None = None
        self._lock: threading.RLock | None = None

    def __enter__(self) -> sqlite3.Connection:
        db = self._db
        if db.in_memory:
            lock = db._shared_lock
            lock.acquire()
        elif self._write:
            db._connection()  # after fork(): a fresh write lock before it is taken
            lock = db.write_lock
            lock.acquire()
        else:
            lock = None
        try:
            conn = db._connection()
            if self._write:
                if db.spin_on_lock:
                    _begin_spinning(conn, db)
                else:
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                    except sqlite3.OperationalError as exc:
                        raise db._locked(exc) from exc
            else:
                conn.execute("BEGIN")
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        self._conn, self._lock = conn, lock
        return conn

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        conn, lock = self._conn, self._lock
        assert conn is not None
        try:
            conn.execute("ROLLBACK" if exc_type is not None and self._write else "COMMIT")
        finally:
            if lock is not None:
                lock.release()


def _begin_spinning(conn: sqlite3.Connection, db: Connections) -> None:
    """BEGIN IMMEDIATE, waiting for another connection's write lock in short steps, up to the busy timeout."""
    _spinning(lambda: conn.execute("BEGIN IMMEDIATE"), db)


def _spinning(statement: Callable[[], _T], db: Connections) -> _T:
    """Run ``statement``, waiting for another connection's write lock in short steps, up to the busy timeout."""
    deadline = None
    pause = 0.0001
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + db._busy_timeout_ms / 1000
            elif now >= deadline:
                raise db._locked(exc) from exc
        time.sleep(pause)
        pause = min(pause * 2, 0.002)
