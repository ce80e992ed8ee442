"""The embedded store: Cloudflare Queues' semantics and limits on one SQLite file (or in memory).

Queues are addressed by id (32 hex digits), as Cloudflare's REST paths are; the name helpers
(:meth:`EmbeddedStore.queue_by_name`, :meth:`EmbeddedStore.ensure_queue`) resolve names. The REST
stand-in serves this API over HTTP; the ``sqlite://`` and ``memory://`` transports are a thin
name->id layer over it.

The rules, each in one place:

- A message becomes visible at ``visible_at_ms``. A pull leases it: new lease id, ``attempts + 1``,
  visible again at ``now + visibility_timeout_ms`` (so an expired lease counts as a try).
- An ack deletes the message whose *current* lease id matches, so a late ack of an expired lease is
  accepted until the message is delivered again; after that the old lease id only earns a warning.
- A message that has had ``deliveries_allowed(max_retries)`` deliveries is never delivered again:
  when it would be (its lease expired, or it was retried), it moves to the dead-letter queue, or is
  deleted when the queue has none.
- A message older than the queue's retention is deleted, delivered or not.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from typing import Callable, Iterable, Optional, Sequence, Tuple, Union

from ..limits import DEFAULT_LIMITS, Limits, deliveries_allowed
from ..transport import validation
from ..transport.base import (
    AckResult,
    BacklogFull,
    InvalidArgument,
    QueueAlreadyExists,
    QueueNotFound,
    QueuePaused,
    RetryRequest,
)
from .connections import Connections
from .records import PullResult, QueueConfig, QueueRecord, StoredMessage, StoreStats

__all__ = ["EmbeddedStore", "OutgoingItem", "system_clock_ms", "new_id"]

#: ``(body, content_type, delay_seconds)``: one message of a batch push (delay None: the queue's default).
OutgoingItem = Tuple[Union[str, bytes], str, Optional[int]]

#: Lease ids per DELETE of an ack (well under SQLite's 32,766 bound parameters).
_ACK_CHUNK = 500

#: How long a writer waits for another process's transaction before giving up.
DEFAULT_BUSY_TIMEOUT_MS = 30_000

_QUEUE_COLUMNS = "queue_id, queue_name, created_on_ms, modified_on_ms, settings, backlog_count, backlog_bytes"

_GROW_BACKLOG = ("UPDATE queues SET backlog_count = backlog_count + ?, backlog_bytes = backlog_bytes + ? "
                 "WHERE queue_id = ? AND backlog_bytes + ? <= ?")
_INSERT_MESSAGE = ("INSERT INTO messages (id, queue_id, body, content_type, attempts, timestamp_ms, visible_at_ms, "
                   "size_bytes) VALUES (?, ?, ?, ?, 0, ?, ?, ?)")

_LEASE_WARNING = (
    "lease not found: the message was settled already, delivered again under a new lease, "
    "dead-lettered, expired by retention, or never leased"
)


def system_clock_ms() -> int:
    """Wall-clock milliseconds (the default clock; tests inject their own)."""
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """A random 32-hex id, the shape of Cloudflare's queue, message and lease ids."""
    return os.urandom(16).hex()


class EmbeddedStore:
    """Queues with Cloudflare's semantics on SQLite. Thread-safe, and safe across processes on one file.

    ``path`` is a file path or ``":memory:"`` (private to this object, shared by its threads under a lock).
    ``now_ms`` is the clock every lease, delay and retention decision reads.
    """

    def __init__(
        self,
        path: str,
        *,
        limits: Limits = DEFAULT_LIMITS,
        now_ms: Callable[[], int] = system_clock_ms,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = path
        self.limits = limits
        self.now_ms = now_ms
        self._db = Connections(path, busy_timeout_ms=busy_timeout_ms)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "EmbeddedStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # == queues ======================================================================================
    def create_queue(self, name: str, *, config: QueueConfig | None = None) -> QueueRecord:
        """Create a queue; raises :class:`QueueAlreadyExists` when the name is taken."""
        with self._db.write() as conn:
            if self._find_by_name(conn, name) is not None:
                raise QueueAlreadyExists(f"queue {name!r} already exists")
            return self._insert_queue(conn, name, config)

    def ensure_queue(self, name: str, *, config: QueueConfig | None = None) -> QueueRecord:
        """The queue named ``name``, created if missing; ``config`` (when given) replaces its settings."""
        with self._db.write() as conn:
            record = self._find_by_name(conn, name)
            if record is None:
                return self._insert_queue(conn, name, config)
            if config is not None and config != record.config:
                return self._write_config(conn, record, config)
            return record

    def list_queues(self) -> list[QueueRecord]:
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {_QUEUE_COLUMNS} FROM queues ORDER BY queue_name").fetchall()
        return [_queue_record(row) for row in rows]

    def get_queue(self, queue_id: str) -> QueueRecord:
        with self._db.read() as conn:
            return self._require(conn, queue_id)

    def queue_by_name(self, name: str) -> QueueRecord:
        """The queue named ``name``; raises :class:`QueueNotFound`."""
        with self._db.read() as conn:
            record = self._find_by_name(conn, name)
        if record is None:
            raise QueueNotFound(f"queue {name!r} does not exist")
        return record

    def rename_queue(self, queue_id: str, new_name: str) -> QueueRecord:
        with self._db.write() as conn:
            record = self._require(conn, queue_id)
            _check_queue_name(new_name)
            other = self._find_by_name(conn, new_name)
            if other is not None and other.queue_id != queue_id:
                raise QueueAlreadyExists(f"queue {new_name!r} already exists")
            conn.execute(
                "UPDATE queues SET queue_name = ?, modified_on_ms = ? WHERE queue_id = ?",
                (new_name, self.now_ms(), queue_id),
            )
            return self._require(conn, record.queue_id)

    def delete_queue(self, queue_id: str) -> None:
        """Delete a queue and every message in it; raises :class:`QueueNotFound`."""
        with self._db.write() as conn:
            self._require(conn, queue_id)
            conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue_id,))
            conn.execute("DELETE FROM queues WHERE queue_id = ?", (queue_id,))

    def configure(self, queue_id: str, config: QueueConfig) -> QueueRecord:
        """Replace a queue's (and its consumer's) settings, after checking them against the limits."""
        with self._db.write() as conn:
            return self._write_config(conn, self._require(conn, queue_id), config)

    # == producing ===================================================================================
    def push(
        self, queue_id: str, body: str | bytes, *, content_type: str = "text", delay_seconds: int | None = 0
    ) -> str:
        """Store one message; returns its id. Raises (and stores nothing) on a bad size, delay or type.

        A delay of None means the queue's ``delivery_delay_seconds``.

        Every ``.delay()`` comes here, so it checks and inserts the one message itself rather than
        through :meth:`push_batch`'s lists (same checks, same SQL: :meth:`_insert`)."""
        limits = self.limits
        if type(body) is str and body.isascii():  # the usual JSON envelope: as many bytes as characters
            cost = len(body) + limits.message_metadata_bytes
            if cost > limits.max_message_bytes:
                validation.check_message(body, limits)  # raises, with the message's sizes
        else:
            cost = validation.check_message(body, limits)
        if content_type != "text":
            validation.check_content_type(content_type)
        if delay_seconds is not None and (delay_seconds != 0 or type(delay_seconds) is not int):
            validation.check_delay(delay_seconds, limits)
        message_id = new_id()
        now = self.now_ms()
        with self._db.write() as conn:
            if delay_seconds is None:
                delay_seconds = self._require(conn, queue_id).config.delivery_delay_seconds
            self._insert(conn, queue_id, [(message_id, queue_id, body, content_type, now,
                                           now + delay_seconds * 1000, cost)], cost)
        return message_id

    def push_batch(self, queue_id: str, items: Sequence[OutgoingItem]) -> list[str]:
        """Store ``(body, content_type, delay_seconds)`` items, all or none; returns their ids in order.

        A delay of None means the queue's ``delivery_delay_seconds`` (Cloudflare's queue-wide delay).

        Raises TooManyMessages (10206), BatchTooLarge (10205), MessageTooLarge (10204),
        InvalidDelay (10202), InvalidArgument (10203), QueueNotFound (10104), BacklogFull (10251).
        An empty batch stores nothing and returns [].
        """
        limits = self.limits
        if len(items) > limits.max_batch_messages:  # before measuring thousands of bodies
            validation.check_batch([0] * len(items), limits)
        costs = []
        for body, content_type, delay_seconds in items:
            costs.append(validation.check_message(body, limits))
            validation.check_content_type(content_type)
            if delay_seconds is not None:
                validation.check_delay(delay_seconds, limits)
        total = validation.check_batch(costs, limits) if len(items) > 1 else sum(costs)
        if not items:
            return []
        now = self.now_ms()
        ids = [new_id() for _ in items]
        with self._db.write() as conn:
            default_delay = 0
            if any(delay is None for _, _, delay in items):
                default_delay = self._require(conn, queue_id).config.delivery_delay_seconds
            rows = [
                (message_id, queue_id, body, content_type, now,
                 now + (default_delay if delay is None else delay) * 1000, cost)
                for message_id, (body, content_type, delay), cost in zip(ids, items, costs)
            ]
            self._insert(conn, queue_id, rows, total)
        return ids

    def _insert(self, conn: sqlite3.Connection, queue_id: str, rows: list[tuple], total: int) -> None:
        """Grow the queue's backlog by ``rows`` (``total`` bytes), within the backlog limit, and insert
        them: ``(id, queue_id, body, content_type, timestamp_ms, visible_at_ms, size_bytes)``."""
        max_backlog_bytes = self.limits.max_backlog_bytes
        grew = conn.execute(_GROW_BACKLOG, (len(rows), total, queue_id, total, max_backlog_bytes)).rowcount
        if not grew:
            self._require(conn, queue_id)
            raise BacklogFull(
                f"queue {queue_id} holds {max_backlog_bytes} bytes at most; {total} more bytes do not fit"
            )
        if len(rows) == 1:
            conn.execute(_INSERT_MESSAGE, rows[0])  # one .delay(): cheaper than executemany
        else:
            conn.executemany(_INSERT_MESSAGE, rows)

    # == consuming ===================================================================================
    def pull(
        self,
        queue_id: str,
        *,
        batch_size: int | None = None,
        visibility_timeout_ms: int | None = None,
    ) -> PullResult:
        """Lease up to ``batch_size`` visible messages (the consumer's settings when None).

        Answers at once. Raises QueuePaused when delivery is paused, QueueNotFound, InvalidArgument.
        """
        # Look first without the write lock: idle workers polling an empty queue then never hold up
        # producers or busy workers.
        with self._db.read() as conn:
            record = self._require(conn, queue_id)
            expected_size, _ = self._pull_parameters(record, batch_size, visibility_timeout_ms)
            anything_visible = conn.execute(
                "SELECT 1 FROM messages WHERE queue_id = ? AND visible_at_ms <= ? LIMIT 1",
                (queue_id, self.now_ms()),
            ).fetchone()
        if anything_visible is None:
            return PullResult([], record.backlog_count)
        # As little Python as possible while the write lock is held (other threads of the process wait
        # for it, and each step here may wait for the GIL): lease ids are drawn before, the records
        # built after.
        lease_ids = [new_id() for _ in range(expected_size)]
        leased: list[tuple] = []
        with self._db.write() as conn:
            record = self._require(conn, queue_id)
            config = record.config
            batch_size, lease_ms = self._pull_parameters(record, batch_size, visibility_timeout_ms)
            now = self.now_ms()
            oldest_kept_ms = _oldest_kept_ms(record, now)
            allowed = deliveries_allowed(config.consumer.max_retries)
            lease_expires = now + lease_ms
            while len(leased) < batch_size:
                wanted = batch_size - len(leased)
                rows = conn.execute(
                    "SELECT seq, id, body, content_type, attempts, timestamp_ms FROM messages "
                    "WHERE queue_id = ? AND visible_at_ms <= ? ORDER BY visible_at_ms, seq LIMIT ?",
                    (queue_id, now, wanted),
                ).fetchall()
                leases = []
                removed = []
                exhausted = []
                for row in rows:
                    if row[5] <= oldest_kept_ms:
                        removed.append(row[0])
                    elif row[4] >= allowed:
                        exhausted.append(row[0])
                    else:
                        lease_id = lease_ids.pop() if lease_ids else new_id()
                        leases.append((lease_id, lease_expires, lease_expires, row[0]))
                        leased.append((row, lease_id))
                if leases:
                    conn.executemany(
                        "UPDATE messages SET lease_id = ?, attempts = attempts + 1, visible_at_ms = ?, "
                        "lease_expires_ms = ? WHERE seq = ?",
                        leases,
                    )
                if removed:
                    self._delete_rows(conn, queue_id, removed)
                if exhausted:
                    self._dead_letter(conn, record, exhausted, now)
                if len(rows) < wanted:
                    break
            backlog = conn.execute("SELECT backlog_count FROM queues WHERE queue_id = ?", (queue_id,)).fetchone()[0]
        delivered = [
            StoredMessage(message_id, body, content_type, attempts + 1, timestamp_ms, lease_id, lease_expires)
            for (_, message_id, body, content_type, attempts, timestamp_ms), lease_id in leased
        ]
        return PullResult(delivered, backlog)

    def ack(
        self,
        queue_id: str,
        *,
        acks: Iterable[str] = (),
        retries: Iterable[RetryRequest | tuple[str, int | None]] = (),
    ) -> AckResult:
        """Settle leases in one transaction: delete the acked messages, hand the retried ones back.

        A retry's delay of None means the consumer's ``retry_delay_seconds``. A retried message that has
        used every delivery goes to the dead-letter queue at once. Unknown, stale or repeated lease ids
        are reported in ``warnings``, never raised. A bad delay raises InvalidDelay and settles nothing.
        """
        acks = list(acks)
        retry_pairs = [
            (r.lease_id, r.delay_seconds) if isinstance(r, RetryRequest) else (r[0], r[1]) for r in retries
        ]
        for _, delay in retry_pairs:
            if delay is not None:
                validation.check_delay(delay, self.limits)
        warnings: dict[str, str] = {}
        ack_count = retry_count = 0
        seen: set[str] = set()

        def first_settlement(lease_id: str) -> bool:
            """False (with a warning) for a lease already acked or retried earlier in this call."""
            if lease_id in seen:
                warnings[lease_id] = "lease settled twice in one call; the first settlement counts"
                return False
            seen.add(lease_id)
            return True

        with self._db.write() as conn:
            record = self._require(conn, queue_id)
            config = record.config
            now = self.now_ms()
            to_delete = [lease_id for lease_id in acks if first_settlement(lease_id)]
            deleted: set[str] = set()
            freed_bytes = 0
            # One DELETE per chunk rather than per message: a worker acks a whole pulled batch at once.
            # ``+queue_id`` keeps the planner on the lease index: with a long IN list and no statistics
            # it would rather walk the whole queue by messages_by_visibility (measured 10x slower).
            for start in range(0, len(to_delete), _ACK_CHUNK):
                chunk = to_delete[start:start + _ACK_CHUNK]
                rows = conn.execute(
                    f"DELETE FROM messages WHERE +queue_id = ? AND lease_id IN ({','.join('?' * len(chunk))}) "
                    "RETURNING lease_id, size_bytes",
                    (queue_id, *chunk),
                ).fetchall()
                for lease_id, size_bytes in rows:
                    deleted.add(lease_id)
                    freed_bytes += size_bytes
            for lease_id in to_delete:
                if lease_id not in deleted:
                    warnings[lease_id] = _LEASE_WARNING
            ack_count = freed_count = len(deleted)
            if freed_count:
                conn.execute(
                    "UPDATE queues SET backlog_count = backlog_count - ?, backlog_bytes = backlog_bytes - ? "
                    "WHERE queue_id = ?",
                    (freed_count, freed_bytes, queue_id),
                )
            allowed = deliveries_allowed(config.consumer.max_retries)
            exhausted = []
            for lease_id, delay in retry_pairs:
                if not first_settlement(lease_id):
                    continue
                delay_seconds = config.consumer.retry_delay_seconds if delay is None else delay
                row = conn.execute(
                    "UPDATE messages SET lease_id = NULL, lease_expires_ms = NULL, visible_at_ms = ? "
                    "WHERE lease_id = ? AND queue_id = ? RETURNING seq, attempts",
                    (now + delay_seconds * 1000, lease_id, queue_id),
                ).fetchone()
                if row is None:
                    warnings[lease_id] = _LEASE_WARNING
                    continue
                retry_count += 1
                if row[1] >= allowed:
                    exhausted.append(row[0])
            if exhausted:
                self._dead_letter(conn, record, exhausted, now)
        return AckResult(ack_count=ack_count, retry_count=retry_count, warnings=warnings)

    def peek(self, queue_id: str, *, batch_size: int = 10) -> list[StoredMessage]:
        """Up to ``batch_size`` messages in delivery order, leased or not, without leasing them."""
        validation.check_pull_batch_size(batch_size, self.limits)
        with self._db.read() as conn:
            record = self._require(conn, queue_id)
            oldest_kept_ms = _oldest_kept_ms(record, self.now_ms())
            rows = conn.execute(
                "SELECT id, body, content_type, attempts, timestamp_ms, visible_at_ms FROM messages "
                "WHERE queue_id = ? AND timestamp_ms > ? ORDER BY visible_at_ms, seq LIMIT ?",
                (queue_id, oldest_kept_ms, batch_size),
            ).fetchall()
        return [StoredMessage(i, b, c, a, t, "", v) for i, b, c, a, t, v in rows]

    def purge(self, queue_id: str) -> int:
        """Delete every message of the queue, leased ones too; returns how many."""
        with self._db.write() as conn:
            self._require(conn, queue_id)
            deleted = conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue_id,)).rowcount
            conn.execute(
                "UPDATE queues SET backlog_count = 0, backlog_bytes = 0 WHERE queue_id = ?", (queue_id,)
            )
        return deleted

    def delete_messages(self, queue_id: str, message_ids: Sequence[str]) -> dict[str, str]:
        """Delete the given messages (leased or not); returns a warning per id that was not found."""
        warnings: dict[str, str] = {}
        with self._db.write() as conn:
            self._require(conn, queue_id)
            seqs = []
            for message_id in dict.fromkeys(message_ids):
                row = conn.execute(
                    "SELECT seq FROM messages WHERE id = ? AND queue_id = ?", (message_id, queue_id)
                ).fetchone()
                if row is None:
                    warnings[message_id] = "no such message in this queue (already acked, purged or expired)"
                else:
                    seqs.append(row[0])
            if seqs:
                self._delete_rows(conn, queue_id, seqs)
        return warnings

    def stats(self, queue_id: str) -> StoreStats:
        """Ready, delayed and in-flight counts, backlog, and the dead-letter queue's depth.

        Read-only: it takes no write lock, and leaves messages past retention to the next pull."""
        with self._db.read() as conn:
            record = self._require(conn, queue_id)
            now = self.now_ms()
            ready, delayed, in_flight, count, size = conn.execute(
                "SELECT "
                " COALESCE(SUM(visible_at_ms <= :now), 0),"
                " COALESCE(SUM(visible_at_ms > :now AND lease_id IS NULL), 0),"
                " COALESCE(SUM(visible_at_ms > :now AND lease_id IS NOT NULL), 0),"
                " COUNT(*), COALESCE(SUM(size_bytes), 0) "
                "FROM messages WHERE queue_id = :queue_id AND timestamp_ms > :oldest_kept_ms",
                {"now": now, "queue_id": queue_id, "oldest_kept_ms": _oldest_kept_ms(record, now)},
            ).fetchone()
            dead_letters = 0
            if record.config.consumer.dead_letter_queue is not None:
                dlq = self._find_by_name(conn, record.config.consumer.dead_letter_queue)
                if dlq is not None:
                    (dead_letters,) = conn.execute(
                        "SELECT COUNT(*) FROM messages WHERE queue_id = ? AND timestamp_ms > ?",
                        (dlq.queue_id, _oldest_kept_ms(dlq, now)),
                    ).fetchone()
        return StoreStats(ready, delayed, in_flight, count, size, dead_letters)

    # == internals ===================================================================================
    def _pull_parameters(
        self, record: QueueRecord, batch_size: int | None, visibility_timeout_ms: int | None
    ) -> tuple[int, int]:
        """The pull's batch size and lease (the consumer's settings fill gaps), or the error."""
        config = record.config
        if config.delivery_paused:
            raise QueuePaused(f"delivery of queue {record.queue_name!r} is paused")
        batch_size = validation.check_pull_batch_size(
            config.consumer.batch_size if batch_size is None else batch_size, self.limits
        )
        lease_ms = validation.check_visibility_timeout(
            config.consumer.visibility_timeout_ms if visibility_timeout_ms is None else visibility_timeout_ms, self.limits
        )
        return batch_size, lease_ms

    def _require(self, conn: sqlite3.Connection, queue_id: str) -> QueueRecord:
        row = conn.execute(f"SELECT {_QUEUE_COLUMNS} FROM queues WHERE queue_id = ?", (queue_id,)).fetchone()
        if row is None:
            raise QueueNotFound(f"queue {queue_id!r} does not exist")
        return _queue_record(row)

    def _find_by_name(self, conn: sqlite3.Connection, name: str) -> QueueRecord | None:
        row = conn.execute(f"SELECT {_QUEUE_COLUMNS} FROM queues WHERE queue_name = ?", (name,)).fetchone()
        return None if row is None else _queue_record(row)

    def _insert_queue(self, conn: sqlite3.Connection, name: str, config: QueueConfig | None) -> QueueRecord:
        _check_queue_name(name)
        config = (config or QueueConfig.defaults(self.limits)).validated(self.limits, queue_name=name)
        (count,) = conn.execute("SELECT COUNT(*) FROM queues").fetchone()
        if count >= self.limits.max_queues:
            raise InvalidArgument(f"an account holds at most {self.limits.max_queues} queues")
        now = self.now_ms()
        queue_id = new_id()
        conn.execute(
            "INSERT INTO queues (queue_id, queue_name, created_on_ms, modified_on_ms, settings) "
            "VALUES (?, ?, ?, ?, ?)",
            (queue_id, name, now, now, config.to_json()),
        )
        return QueueRecord(queue_id, name, now, now, config, 0, 0)

    def _write_config(self, conn: sqlite3.Connection, record: QueueRecord, config: QueueConfig) -> QueueRecord:
        config = config.validated(self.limits, queue_name=record.queue_name)
        now = self.now_ms()
        conn.execute(
            "UPDATE queues SET settings = ?, modified_on_ms = ? WHERE queue_id = ?",
            (config.to_json(), now, record.queue_id),
        )
        return QueueRecord(
            record.queue_id, record.queue_name, record.created_on_ms, now, config,
            record.backlog_count, record.backlog_bytes,
        )

    def _delete_rows(self, conn: sqlite3.Connection, queue_id: str, seqs: list[int]) -> None:
        freed_bytes = 0
        for seq in seqs:
            row = conn.execute("DELETE FROM messages WHERE seq = ? RETURNING size_bytes", (seq,)).fetchone()
            freed_bytes += row[0]
        conn.execute(
            "UPDATE queues SET backlog_count = backlog_count - ?, backlog_bytes = backlog_bytes - ? "
            "WHERE queue_id = ?",
            (len(seqs), freed_bytes, queue_id),
        )

    def _dead_letter(self, conn: sqlite3.Connection, record: QueueRecord, seqs: list[int], now: int) -> None:
        """Move exhausted messages to the dead-letter queue (created if missing), or delete them."""
        dlq_name = record.config.consumer.dead_letter_queue
        if dlq_name is None:
            self._delete_rows(conn, record.queue_id, seqs)
            return
        dlq = self._find_by_name(conn, dlq_name) or self._insert_queue(conn, dlq_name, None)
        moved_bytes = 0
        for seq in seqs:
            # The message keeps its id and body; in the dead-letter queue it starts afresh.
            row = conn.execute(
                "UPDATE messages SET queue_id = ?, attempts = 0, timestamp_ms = ?, visible_at_ms = ?, "
                "lease_id = NULL, lease_expires_ms = NULL WHERE seq = ? RETURNING size_bytes",
                (dlq.queue_id, now, now, seq),
            ).fetchone()
            moved_bytes += row[0]
        conn.executemany(
            "UPDATE queues SET backlog_count = backlog_count + ?, backlog_bytes = backlog_bytes + ? "
            "WHERE queue_id = ?",
            [(-len(seqs), -moved_bytes, record.queue_id), (len(seqs), moved_bytes, dlq.queue_id)],
        )


def _oldest_kept_ms(record: QueueRecord, now: int) -> int:
    """Messages sent at or before this time are past the queue's retention."""
    return now - record.config.retention_seconds * 1000


def _queue_record(row: tuple) -> QueueRecord:
    queue_id, name, created, modified, settings, count, size = row
    return QueueRecord(queue_id, name, created, modified, _config(settings), count, size)


@functools.lru_cache(maxsize=256)
def _config(settings: str) -> QueueConfig:
    """The settings JSON, parsed once per distinct text (QueueConfig is frozen, so one object serves
    every reader): every pull and ack reads its queue's record inside its write transaction."""
    return QueueConfig.from_json(settings)


def _check_queue_name(name: object) -> None:
    # Cloudflare's own rule (lowercase, digits, dashes) is the Cloudflare transport's to map onto;
    # the embedded store takes any Celery queue name.
    if not isinstance(name, str) or not name or len(name) > 255:
        raise InvalidArgument(f"a queue name must be non-empty text of at most 255 characters, got {name!r}")
