"""The outbox: ``.delay()`` commits the message to a local SQLite file; a forwarder pushes it in bulk.

Opt in with ``cloudflare://ACCOUNT?producer=outbox`` or ``app.conf.cfq_producer = "outbox"``. Over
HTTP a durable ``.delay()`` waits for a round trip to Cloudflare (20–100 ms); here it waits for one
SQLite commit on the local disk (tens of microseconds), and a :class:`~.forwarder.Forwarder` (a thread
of the producing process, and/or ``cfq-shim -A proj forward``) sends what was committed.

**The guarantee, exactly.** When ``.delay()`` returns, the message is committed to the outbox file
(SQLite, WAL, ``synchronous=NORMAL``: the commit is written to the write-ahead log, not fsynced, so it
survives the process being killed, ``kill -9`` included, because the operating system holds the write;
a power cut or OS crash can lose the last commits, never corrupt the file, as with the embedded store).
The fsyncs happen at checkpoints, which forwarders run after their pushes (:meth:`Outbox.checkpoint`
says how), so a ``.delay()`` seldom waits for one. From then on a message is deleted from the outbox
only after Cloudflare accepted a push that carried it. So:

- every message whose ``.delay()`` returned is pushed **at least once**, whichever process dies when
  (producer, forwarder mid-push), provided some forwarder runs later on the same file;
- a forwarder that dies after Cloudflare stored a push but before it deleted those rows leaves them to be
  pushed again: a **duplicate**, with the same task id, which the worker acks without running when it
  completed that id lately (cfq_shim.dedupe: per worker process, one hour, 100,000 ids);
- a ``.delay()`` that raised (the outbox full, the disk full) sent nothing.

The file is shared by every process on the machine that names the same path: rows carry their
destination (scheme, account, queue prefix: never credentials), and forwarders claim disjoint batches
under a lease tied to their process, so several forwarders cooperate and a dead one's claims are taken
over at once. Ordering: each queue is pushed oldest first; a batch whose push failed is retried before
anything younger of its queue; only the (up to ``max_in_flight``) batches in flight at once may land in
another order, and Cloudflare Queues does not promise delivery order anyway.

The outbox is bounded (``cfq_outbox_max_messages``): when full, ``.delay()`` raises :class:`OutboxFull`
naming the file, the bound and the forwarders' last error.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from ..embedded.connections import Connections
from ..transport.base import TransportError

__all__ = ["Outbox", "OutboxFull", "OutboxStats", "Claim", "ClaimedMessage", "default_outbox_path",
           "DEFAULT_MAX_MESSAGES", "process_alive"]

#: Messages an outbox holds at most by default (about 1 GB of typical envelopes).
DEFAULT_MAX_MESSAGES = 1_000_000
#: How long a forwarder's claim holds while its process lives (a push and its SDK retries fit easily).
DEFAULT_CLAIM_MS = 120_000
_BUSY_TIMEOUT_MS = 30_000
#: Each connection checkpoints the write-ahead log by itself only past this many pages (about 20 MB):
#: forwarders checkpoint after every push (:meth:`Outbox.checkpoint`), so a ``.delay()`` never pays the
#: fsyncs of a checkpoint unless no forwarder runs for a long while.
_AUTOCHECKPOINT_PAGES = 10_000
#: A forwarder restarts the log once it holds this many pages (about 8 MB; see Outbox.checkpoint).
_RESTART_AT_PAGES = 4_096
_RESTART_WAIT_MS = 100
#: Reads of the candidates a claim makes at most when other forwarders keep taking them first.
_CLAIM_ATTEMPTS = 3
_INSERT = ("INSERT INTO outbox (destination, queue, body, cost, deliver_at_ms, enqueued_at_ms) "
           "VALUES (?, ?, ?, ?, ?, ?)")
#: An upper bound of the depth, read from the two ends of the rowid tree (two lookups; a single
#: ``SELECT min(seq), max(seq)`` would scan the whole table).
_DEPTH_BOUND = "SELECT coalesce((SELECT max(seq) FROM outbox) - (SELECT min(seq) FROM outbox) + 1, 0)"
#: One message, inserted only while the depth bound is at most the last parameter (the bound less one).
_INSERT_ONE = ("INSERT INTO outbox (destination, queue, body, cost, deliver_at_ms, enqueued_at_ms) "
               f"SELECT ?, ?, ?, ?, ?, ? WHERE ({_DEPTH_BOUND[len('SELECT '):]}) <= ?")
#: The exact depth: a scan, so only when the bound is over.
_COUNT = "SELECT count(*) FROM outbox"
#: The same, checked against the exact count (a scan, under the write lock: only when the bound is over
#: and a count read first found room).
_INSERT_COUNTED = ("INSERT INTO outbox (destination, queue, body, cost, deliver_at_ms, enqueued_at_ms) "
                   f"SELECT ?, ?, ?, ?, ?, ? WHERE ({_COUNT}) <= ?")
_OLDEST = "SELECT enqueued_at_ms, attempts FROM outbox WHERE seq = (SELECT min(seq) FROM outbox)"
_OLDEST_OF_QUEUE = ("SELECT enqueued_at_ms, attempts FROM outbox WHERE destination = ? AND queue = ? "
                    "ORDER BY seq LIMIT 1")
#: Count a claim in its queue's budget for this second, only while the budget (the last parameter) holds
#: it: no row changes when another forwarder spent it since the claim read it.
_COUNT_CLAIMED = (
    "INSERT INTO outbox_rate (destination, queue, second, claimed) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (destination, queue) DO UPDATE SET claimed = "
    "CASE WHEN second = excluded.second THEN claimed + excluded.claimed ELSE excluded.claimed END, "
    "second = excluded.second "
    "WHERE second != excluded.second OR claimed + excluded.claimed <= ?5")
_T = TypeVar("_T")
_SCHEMA_VERSION = 1
_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS outbox (
        seq              INTEGER PRIMARY KEY,      -- commit order
        destination      TEXT NOT NULL,            -- scheme, account, prefix (never credentials)
        queue            TEXT NOT NULL,            -- the Celery queue name
        body             TEXT NOT NULL,
        cost             INTEGER NOT NULL,         -- body + metadata bytes, as the batch limit counts
        deliver_at_ms    INTEGER NOT NULL,         -- wall clock: send time + delay
        enqueued_at_ms   INTEGER NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        not_before_ms    INTEGER NOT NULL DEFAULT 0,  -- back-off after a failed push
        claimed_by       TEXT,                     -- "pid:token" of the forwarder pushing it
        claim_expires_ms INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX IF NOT EXISTS outbox_by_queue ON outbox (destination, queue, seq)",
    # Machine-wide rate budget: messages claimed per queue in the current second, by every forwarder.
    """
    CREATE TABLE IF NOT EXISTS outbox_rate (
        destination TEXT NOT NULL,
        queue       TEXT NOT NULL,
        second      INTEGER NOT NULL,
        claimed     INTEGER NOT NULL,
        PRIMARY KEY (destination, queue)
    )
    """,
    # The forwarders' last push error, so a producer that finds the outbox full can say why.
    """
    CREATE TABLE IF NOT EXISTS outbox_state (
        destination TEXT PRIMARY KEY,
        last_error  TEXT,
        error_at_ms INTEGER,
        pushed_at_ms INTEGER
    )
    """,
)


class OutboxFull(TransportError):
    """The outbox holds its maximum: the message was not accepted (nothing was written)."""


@dataclass(frozen=True)
class OutboxStats:
    path: str
    #: Messages waiting (for this destination when one was given).
    depth: int
    #: Age in seconds of the oldest waiting message (0 when empty).
    oldest_age_seconds: float
    #: Messages waiting per queue.
    by_queue: dict
    last_error: str | None
    last_error_age_seconds: float | None


@dataclass(frozen=True)
class ClaimedMessage:
    seq: int
    body: str
    cost: int
    deliver_at_ms: int


@dataclass(frozen=True)
class Claim:
    """Messages of one queue claimed by one forwarder, oldest first, within the batch limits."""

    queue: str
    messages: list


def default_outbox_path() -> str:
    """``$CFQ_SHIM_OUTBOX_PATH``, else ``$XDG_STATE_HOME/cfq-shim/outbox.sqlite3`` (``~/.local/state``)."""
    explicit = os.environ.get("CFQ_SHIM_OUTBOX_PATH")
    if explicit:
        return explicit
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "cfq-shim", "outbox.sqlite3")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _queues_oldest_first(conn: sqlite3.Connection, destination: str) -> list[str]:
    """The destination's queues, the one whose oldest message is oldest first. Each step is one index
    lookup (a full scan per claim would cost seconds once an outage has filled the outbox)."""
    heads: list[tuple[int, str]] = []
    queue = conn.execute("SELECT min(queue) FROM outbox WHERE destination = ?", (destination,)).fetchone()[0]
    while queue is not None:
        head = conn.execute("SELECT min(seq) FROM outbox WHERE destination = ? AND queue = ?",
                            (destination, queue)).fetchone()[0]
        heads.append((head, queue))
        queue = conn.execute("SELECT min(queue) FROM outbox WHERE destination = ? AND queue > ?",
                             (destination, queue)).fetchone()[0]
    return [queue for _, queue in sorted(heads)]


def _count(conn: sqlite3.Connection) -> int:
    """The messages in the outbox, exactly (:data:`_COUNT`)."""
    return conn.execute(_COUNT).fetchone()[0]


def _runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Runs of consecutive numbers in ``seqs``, as (first, last): one ``BETWEEN`` statement touches
    exactly the rows of a run (a claim is nearly always one run), instead of one statement per row."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        elif not runs or seq != runs[-1][1]:
            runs.append((seq, seq))
    return runs


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists (a forwarder's claims die with it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


_open_outboxes: "weakref.WeakSet[Outbox]" = weakref.WeakSet()


def _new_claim_locks_after_fork() -> None:
    # A forwarder thread of the parent may have held the lock at fork(); it does not exist in the child,
    # which would wait for it forever (gunicorn --preload, multiprocessing). The connections are renewed
    # by Connections itself.
    for outbox in list(_open_outboxes):
        outbox._claiming = threading.Lock()


os.register_at_fork(after_in_child=_new_claim_locks_after_fork)


class Outbox:
    """One outbox file. Thread-safe, safe across the processes of one machine, and across fork()."""

    def __init__(self, path: str, *, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        if max_messages < 1:
            raise ValueError(f"cfq_outbox_max_messages must be at least 1, got {max_messages}")
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, exist_ok=True)
            self._db = Connections(path, busy_timeout_ms=_BUSY_TIMEOUT_MS, tables=_TABLES,
                                   schema_version=_SCHEMA_VERSION, kind="outbox", spin_on_lock=True,
                                   pragmas=(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}",))
        except (OSError, sqlite3.Error) as exc:
            raise TransportError(f"cannot open the outbox {path}: {exc}") from None
        self.path = path
        self.max_messages = max_messages
        self._claiming = threading.Lock()
        _open_outboxes.add(self)

    def close(self) -> None:
        self._db.close()

    # -- producing ------------------------------------------------------------------------------------
    def add(self, destination: str, items: Sequence[tuple[str, str, int, int]]) -> None:
        """Commit ``(queue, body, delay_seconds, cost)`` items, all or none. Raises :class:`OutboxFull`."""
        if not items:
            return
        now = _now_ms()
        rows = [(destination, queue, body, cost, now + max(0, delay) * 1000, now) for queue, body, delay, cost in items]
        try:
            if len(rows) == 1:
                # One .delay(): one statement, its own transaction, so the write lock is held only inside
                # SQLite (never across a GIL wait) and the bound is checked in the same step.
                if self._db.execute(_INSERT_ONE, (*rows[0], self.max_messages - 1)):
                    return
                # The bound also counts the rows pushed since the oldest waiting one (a message stuck
                # behind a missing queue while the others flow): count exactly, reading (no lock).
                depth = self._reading(_count)
                if depth < self.max_messages and self._db.execute(_INSERT_COUNTED, (*rows[0], self.max_messages - 1)):
                    return
                raise self._full(destination, max(depth, self.max_messages))
            with self._db.write() as conn:
                depth = conn.execute(_DEPTH_BOUND).fetchone()[0]
                if depth + len(rows) > self.max_messages:
                    depth = _count(conn)
                fits = depth + len(rows) <= self.max_messages
                if fits:
                    conn.executemany(_INSERT, rows)
            if not fits:
                raise self._full(destination, depth)
        except sqlite3.Error as exc:
            raise TransportError(f"cannot write to the outbox {self.path}: {exc}") from None

    def _full(self, destination: str, depth: int) -> OutboxFull:
        row = self._reading(lambda conn: conn.execute(
            "SELECT last_error, error_at_ms FROM outbox_state WHERE destination = ?", (destination,)).fetchone())
        why = (f"The forwarders' last push error ({(_now_ms() - row[1]) / 1000:.0f} s ago): {row[0]}"
               if row and row[0] else "No forwarder has reported an error: is one running "
               "(a producing process with cfq_outbox_forwarder='thread', or `cfq-shim -A APP forward`)?")
        return OutboxFull(
            f"the outbox {self.path} holds {depth} messages, its limit (cfq_outbox_max_messages="
            f"{self.max_messages}); the message was not accepted. {why}"
        )

    # -- forwarding -----------------------------------------------------------------------------------
    def claim(self, destination: str, owner: str, *, max_messages: int, max_bytes: int,
              per_second: int | None = None, claim_ms: int = DEFAULT_CLAIM_MS,
              min_age_ms: int = 0) -> Claim | None:
        """Claim the oldest unclaimed messages of one queue for ``owner``: at most ``max_messages`` and
        ``max_bytes`` of costs, and (``per_second``) no more than the queue's budget left in this second
        across every forwarder of the file. A queue whose oldest unclaimed message is backing off is
        skipped whole (order). ``min_age_ms``: leave a queue alone while its oldest message is younger
        and fewer than ``max_messages`` wait (a short linger, so pushes carry full batches).

        The candidates are read in a read transaction (no lock: producers keep committing meanwhile),
        then marked as claimed by single statements that take only the rows still free; a row another
        forwarder took in between is left out, and the candidates are read again when none was left."""
        try:
            with self._claiming:
                for _ in range(_CLAIM_ATTEMPTS):
                    now = _now_ms()
                    candidates = self._reading(lambda conn: self._candidates(
                        conn, destination, owner, now, max_messages, max_bytes, per_second, min_age_ms))
                    if candidates is None:
                        return None
                    queue, messages, dead_owners = candidates
                    expires_ms = now + claim_ms
                    claimed = self._mark_claimed(messages, owner, now, expires_ms, dead_owners)
                    if not claimed:
                        continue
                    if per_second and not self._db.execute(
                            _COUNT_CLAIMED, (destination, queue, now // 1000, len(claimed), per_second)):
                        # Another forwarder spent this second's budget since the candidates were read.
                        self._unclaim(claimed, owner, expires_ms)
                        continue
                    return Claim(queue, claimed)
        except sqlite3.Error as exc:
            raise TransportError(f"cannot read the outbox {self.path}: {exc}") from None
        return None

    def _unclaim(self, messages: list[ClaimedMessage], owner: str, expires_ms: int) -> None:
        for first, last in _runs([m.seq for m in messages]):
            self._db.execute("UPDATE outbox SET claimed_by = NULL, claim_expires_ms = 0 WHERE seq BETWEEN ? AND ? "
                             "AND claimed_by = ? AND claim_expires_ms = ?", (first, last, owner, expires_ms))

    def _candidates(self, conn: sqlite3.Connection, destination: str, owner: str, now: int, max_messages: int,
                    max_bytes: int, per_second: int | None,
                    min_age_ms: int) -> tuple[str, list[ClaimedMessage], list[str]] | None:
        alive: dict[str, bool] = {}
        for queue in _queues_oldest_first(conn, destination):
            budget = max_messages
            if per_second:
                row = conn.execute("SELECT second, claimed FROM outbox_rate WHERE destination = ? AND queue = ?",
                                   (destination, queue)).fetchone()
                used = row[1] if row and row[0] == now // 1000 else 0
                budget = min(budget, per_second - used)
                if budget <= 0:
                    continue
            taken = self._take(conn, destination, queue, owner, now, budget, max_bytes, alive, min_age_ms,
                               max_messages)
            if taken:
                return queue, taken, [o for o, is_alive in alive.items() if not is_alive]
        return None

    def _mark_claimed(self, messages: list[ClaimedMessage], owner: str, now: int, expires_ms: int,
                      dead_owners: list[str]) -> list[ClaimedMessage]:
        """Claim the rows of ``messages`` that are still free (as they were read); return those claimed."""
        free = "claimed_by IS NULL OR claim_expires_ms <= ?"
        if dead_owners:
            free += f" OR claimed_by IN ({', '.join('?' * len(dead_owners))})"
        statement = (f"UPDATE outbox SET claimed_by = ?, claim_expires_ms = ? WHERE seq BETWEEN ? AND ? "
                     f"AND not_before_ms <= ? AND ({free})")
        runs = _runs([m.seq for m in messages])
        changed = sum(self._db.execute(statement, (owner, expires_ms, first, last, now, now, *dead_owners))
                      for first, last in runs)
        if changed == len(messages):
            return messages
        # Another forwarder claimed some in between: keep the ones stamped with this claim (claims of one
        # Outbox are serialised, so owner + expiry names this claim's rows).
        def ours(conn: sqlite3.Connection) -> set[int]:
            return {seq for first, last in runs for (seq,) in conn.execute(
                "SELECT seq FROM outbox WHERE seq BETWEEN ? AND ? AND claimed_by = ? AND claim_expires_ms = ?",
                (first, last, owner, expires_ms))}
        got = self._reading(ours)
        return [m for m in messages if m.seq in got]

    def _take(self, conn: sqlite3.Connection, destination: str, queue: str, owner: str, now: int, budget: int,
              max_bytes: int, alive: dict[str, bool], min_age_ms: int, full_batch: int) -> list[ClaimedMessage]:
        # The owner's own pushes in flight are skipped by SQLite, not fetched and skipped here; other
        # owners' claims come back to be checked (a dead owner's are free at once). The cursor is read
        # lazily: only the rows up to the batch are stepped.
        rows = conn.execute(
            "SELECT seq, body, cost, deliver_at_ms, enqueued_at_ms, not_before_ms, claimed_by, claim_expires_ms "
            "FROM outbox WHERE destination = ? AND queue = ? "
            "AND (claimed_by IS NULL OR claimed_by != ? OR claim_expires_ms <= ?) ORDER BY seq LIMIT ?",
            (destination, queue, owner, now, budget + 10 * full_batch))
        try:
            return self._take_rows(rows, now, budget, max_bytes, alive, min_age_ms, full_batch)
        finally:
            rows.close()

    def _take_rows(self, rows: "sqlite3.Cursor", now: int, budget: int, max_bytes: int, alive: dict[str, bool],
                   min_age_ms: int, full_batch: int) -> list[ClaimedMessage]:
        taken: list[ClaimedMessage] = []
        size = 0
        first_unclaimed_at: int | None = None
        for seq, body, cost, deliver_at_ms, enqueued_at_ms, not_before_ms, claimed_by, claim_expires_ms in rows:
            if claimed_by is not None and claim_expires_ms > now and self._owner_alive(claimed_by, alive):
                continue  # in flight with a live forwarder
            if not_before_ms > now:
                break  # backing off: nothing younger of this queue goes first
            if taken and (len(taken) >= budget or size + cost > max_bytes):
                break
            if first_unclaimed_at is None:
                first_unclaimed_at = enqueued_at_ms
            taken.append(ClaimedMessage(seq, body, cost, deliver_at_ms))
            size += cost
            if len(taken) >= budget:
                break
        if taken and min_age_ms and len(taken) < full_batch and size * 2 < max_bytes:
            assert first_unclaimed_at is not None
            if now - first_unclaimed_at < min_age_ms:
                return []
        return taken

    @staticmethod
    def _owner_alive(owner: str, cache: dict[str, bool]) -> bool:
        known = cache.get(owner)
        if known is None:
            pid_text = owner.split(":", 1)[0]
            known = cache[owner] = process_alive(int(pid_text)) if pid_text.isdigit() else True
        return known

    def delete(self, seqs: Sequence[int], *, destination: str) -> None:
        """Forget messages the queue accepted (one statement per run of consecutive rows, each its own
        transaction: a message is either still in the outbox or gone), then checkpoint the file."""
        for first, last in _runs(seqs):
            self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first, last))
        self._db.execute(
            "INSERT INTO outbox_state (destination, pushed_at_ms) VALUES (?, ?) "
            "ON CONFLICT (destination) DO UPDATE SET pushed_at_ms = excluded.pushed_at_ms",
            (destination, _now_ms()))
        self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the file, so that no ``.delay()`` has to.

        A checkpoint costs two fsyncs under ``synchronous=NORMAL``, and SQLite runs one in whichever
        connection commits past ``wal_autocheckpoint`` pages: a producer, most of the time. So forwarders
        checkpoint after every push instead, passively (no lock: producers keep committing). While
        producers commit, the log never becomes fully copied at the moment one of them starts writing,
        so it is never restarted and keeps growing; past :data:`_RESTART_AT_PAGES` a forwarder therefore
        runs a RESTART checkpoint, which holds the write lock for the little left to copy and a sync
        (producers wait those few milliseconds, once per ~8 MB of log), after which the log starts
        over. Connections checkpoint by themselves only past :data:`_AUTOCHECKPOINT_PAGES` (no
        forwarder running)."""
        try:
            _, log_frames, _ = self._db.checkpoint("PASSIVE")
            if log_frames >= _RESTART_AT_PAGES:
                # Waits up to 100 ms for the write lock (producers hold it microseconds at a time) and
                # for readers; when that is not enough, the next push tries again.
                self._db.checkpoint("RESTART", wait_ms=_RESTART_WAIT_MS)
        except sqlite3.OperationalError:
            pass  # another connection is checkpointing: nothing to do

    def release(self, seqs: Sequence[int], *, destination: str, backoff_ms: int, error: str) -> None:
        """Give claimed messages back after a failed push; none is pushed again for ``backoff_ms``."""
        now = _now_ms()
        with self._db.write() as conn:
            conn.executemany(
                "UPDATE outbox SET claimed_by = NULL, claim_expires_ms = 0, attempts = attempts + 1, "
                "not_before_ms = ? WHERE seq = ?", [(now + backoff_ms, seq) for seq in seqs])
            conn.execute(
                "INSERT INTO outbox_state (destination, last_error, error_at_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (destination) DO UPDATE SET last_error = excluded.last_error, "
                "error_at_ms = excluded.error_at_ms", (destination, error[:500], now))

    # -- inspection -----------------------------------------------------------------------------------
    def _reading(self, read: "Callable[[sqlite3.Connection], _T]") -> "_T":
        """Run ``read`` in a read transaction; a reader meets a lock only while another connection
        recovers or checkpoints the file, and this connection does not wait in SQLite (spin_on_lock)."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                with self._db.read() as conn:
                    return read(conn)
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                    raise TransportError(f"cannot read the outbox {self.path}: {exc}") from None
            time.sleep(0.001)

    def stats(self, destination: str | None = None) -> OutboxStats:
        return self._reading(lambda conn: self._stats(conn, destination))

    def _stats(self, conn: sqlite3.Connection, destination: str | None) -> OutboxStats:
        now = _now_ms()
        where, params = ("WHERE destination = ?", (destination,)) if destination is not None else ("", ())
        by_queue = dict(conn.execute(f"SELECT queue, count(*) FROM outbox {where} GROUP BY queue", params).fetchall())
        # The oldest row is the first committed (per queue: one index lookup each), not a scan of the
        # table for min(enqueued_at_ms): this runs every few seconds while an outage fills the outbox.
        if destination is None:
            heads = conn.execute(_OLDEST).fetchall()
        else:
            heads = [conn.execute(_OLDEST_OF_QUEUE, (destination, queue)).fetchone() for queue in by_queue]
        oldest = min((enqueued_at for enqueued_at, _ in heads), default=None)
        state = conn.execute(
            f"SELECT last_error, error_at_ms, pushed_at_ms FROM outbox_state {where} "
            "ORDER BY error_at_ms DESC LIMIT 1", params).fetchone()
        last_error, error_at = (state[0], state[1]) if state else (None, None)
        # A failed batch goes again before anything younger of its queue, so a queue whose oldest message
        # has failed a push still fails (a missing queue), even while pushes to other queues succeed.
        if last_error and state[2] and error_at and state[2] > error_at and not any(a for _, a in heads):
            last_error, error_at = None, None  # a push succeeded since, and no queue is failing
        return OutboxStats(
            path=self.path,
            depth=sum(by_queue.values()),
            oldest_age_seconds=max(0.0, (now - oldest) / 1000) if oldest is not None else 0.0,
            by_queue=by_queue,
            last_error=last_error,
            last_error_age_seconds=(now - error_at) / 1000 if error_at else None,
        )

    def depth(self, destination: str) -> int:
        return self._reading(lambda conn: conn.execute(
            "SELECT count(*) FROM outbox WHERE destination = ?", (destination,)).fetchone()[0])
