"""The outbox table through Django's ORM, with the interface of the local outbox file
(:class:`cfq_shim.sending.outbox.Outbox`), so :class:`~cfq_shim.sending.forwarder.Forwarder` drains it.

Claims are a lease in the rows (``claimed_by``, ``claim_expires_ms``), taken in one short statement and
never held across the push, so no transaction stays open while the queue answers:

- where the database has ``SELECT ... FOR UPDATE SKIP LOCKED`` with a LIMIT (PostgreSQL, MySQL 8), the
  candidate rows are locked with it in a short transaction and marked; concurrent forwarders pass each
  other's rows by;
- elsewhere (SQLite; Oracle, which refuses a LIMIT there) the mark is one conditional ``UPDATE ... WHERE claimed_by IS NULL OR expired``,
  atomic on its own, and the rows this forwarder won are read back by its claim token.

A claim held by a process of this machine that is gone is taken over at once; any other claim after it
expires. Nothing here opens or commits the caller's transactions: :func:`write` runs inside whatever
transaction the caller is in.
"""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any, Sequence

from django.db import DatabaseError, connections, transaction
from django.db.models import Count, F, Min, Q

from ...sending.outbox import DEFAULT_CLAIM_MS, Claim, ClaimedMessage, OutboxStats, process_alive
from ...transport.base import TransportError
from .models import OutboxMessage

__all__ = ["DatabaseOutbox"]

#: How often a forwarder looks for claims left by dead processes of its machine.
_DEAD_CLAIM_CHECK_MS = 1_000
_HOST = socket.gethostname()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DatabaseOutbox:
    """The ``cfq_shim_outbox`` table of one database alias."""

    def __init__(self, using: str = "default", *, claim_ms: int = DEFAULT_CLAIM_MS) -> None:
        self.using = using
        self.claim_ms = claim_ms
        settings = connections[using].settings_dict
        #: What logs and ``inspect`` show (the database, never its password).
        self.path = f"{OutboxMessage._meta.db_table} in the Django database {using!r} ({settings.get('NAME')})"
        self._claims = itertools.count(1)  # next() is atomic: the forwarder's pushers share this object
        self._last_dead_check = 0
        self._insert: str | None = None

    @property
    def _rows(self) -> Any:
        return OutboxMessage.objects.using(self.using)

    def close(self) -> None:
        """Close this thread's connection (a forwarder thread ends)."""
        connections[self.using].close()

    # -- producing (inside the caller's transaction) ----------------------------------------------------
    def add(self, destination: str, items: Sequence[tuple[str, str, int, int]]) -> None:
        """INSERT ``(queue, body, delay_seconds, cost)`` items in the current transaction of the alias."""
        now = _now_ms()
        rows = [(destination, queue, body, cost, now + max(0, delay) * 1000, now, 0, 0, 0)
                for queue, body, delay, cost in items]
        # One plain INSERT through the alias's connection (its current transaction): a model save or
        # bulk_create costs about ten times more Python per row, on every delay_on_commit of a request.
        with connections[self.using].cursor() as cursor:
            if len(rows) == 1:
                cursor.execute(self._insert_sql(), rows[0])
            else:
                cursor.executemany(self._insert_sql(), rows)

    def _insert_sql(self) -> str:
        if self._insert is None:
            quote = connections[self.using].ops.quote_name
            columns = ("destination", "queue", "body", "cost", "deliver_at_ms", "enqueued_at_ms", "attempts",
                       "not_before_ms", "claim_expires_ms")
            self._insert = (f"INSERT INTO {quote(OutboxMessage._meta.db_table)} "
                            f"({', '.join(quote(OutboxMessage._meta.get_field(c).column) for c in columns)}) "
                            f"VALUES ({', '.join(['%s'] * len(columns))})")
        return self._insert

    # -- forwarding ---------------------------------------------------------------------------------------
    def claim(self, destination: str, owner: str, *, max_messages: int, max_bytes: int,
              per_second: int | None = None, min_age_ms: int = 0, **_unused: Any) -> Claim | None:
        """Claim the oldest unclaimed messages of one queue: at most ``max_messages`` and ``max_bytes``.
        A queue with a message backing off after a failed push waits whole (order). ``min_age_ms``: leave
        a queue alone while its oldest message is younger and fewer than a full batch wait.
        (The per-second budget of the outbox file is not kept here: a 429 backs the queue off.)"""
        try:
            return self._claim(destination, owner, max_messages, max_bytes, min_age_ms)
        except DatabaseError as exc:
            self._forget_broken_connection()
            raise TransportError(f"cannot read the outbox {self.path}: {exc}") from None

    def _claim(self, destination: str, owner: str, max_messages: int, max_bytes: int,
               min_age_ms: int) -> Claim | None:
        now = _now_ms()
        if now - self._last_dead_check >= _DEAD_CLAIM_CHECK_MS:
            self._last_dead_check = now
            self._release_dead_claims(destination, now)
        mine = self._rows.filter(destination=destination)
        claimable = Q(claimed_by__isnull=True) | Q(claim_expires_ms__lt=now)
        backing_off = mine.filter(not_before_ms__gt=now).values("queue")
        queue = (mine.filter(claimable).exclude(queue__in=backing_off).order_by("id")
                 .values_list("queue", flat=True).first())
        if queue is None:
            return None
        candidates = mine.filter(claimable, queue=queue).order_by("id")
        fields = ("id", "body", "cost", "deliver_at_ms", "enqueued_at_ms")
        token = f"{_HOST}:{owner}:{next(self._claims)}"
        expires = now + self.claim_ms
        features = connections[self.using].features
        if features.has_select_for_update_skip_locked and features.supports_select_for_update_with_limit:
            with transaction.atomic(using=self.using):
                rows = self._within_limits(
                    candidates.select_for_update(skip_locked=True).values_list(*fields)[:max_messages],
                    max_messages, max_bytes, min_age_ms, now)
                if not rows:
                    return None
                self._rows.filter(id__in=[row[0] for row in rows]).update(claimed_by=token, claim_expires_ms=expires)
        else:
            rows = self._within_limits(candidates.values_list(*fields)[:max_messages],
                                       max_messages, max_bytes, min_age_ms, now)
            if not rows:
                return None
            ids = [row[0] for row in rows]
            won = mine.filter(claimable, id__in=ids).update(claimed_by=token, claim_expires_ms=expires)
            if won < len(ids):  # another forwarder took some in between: keep what this one marked
                ours = set(self._rows.filter(id__in=ids, claimed_by=token).values_list("id", flat=True))
                rows = [row for row in rows if row[0] in ours]
                if not rows:
                    return None
        return Claim(queue, [ClaimedMessage(seq, body, cost, deliver_at_ms)
                             for seq, body, cost, deliver_at_ms, _ in rows])

    @staticmethod
    def _within_limits(rows: Any, max_messages: int, max_bytes: int, min_age_ms: int, now: int) -> list:
        taken: list = []
        size = 0
        for row in rows:
            if taken and (len(taken) >= max_messages or size + row[2] > max_bytes):
                break
            taken.append(row)
            size += row[2]
        if taken and min_age_ms and len(taken) < max_messages and size * 2 < max_bytes \
                and now - taken[0][4] < min_age_ms:
            return []  # linger: a fuller batch is likely in a moment
        return taken

    def _release_dead_claims(self, destination: str, now: int) -> None:
        """Free claims of processes of this machine that are gone (a forwarder killed mid-push)."""
        owners = (self._rows.filter(destination=destination, claimed_by__isnull=False, claim_expires_ms__gte=now)
                  .values_list("claimed_by", flat=True).distinct())
        dead = []
        for claimed_by in owners:
            host, _, rest = claimed_by.partition(":")
            pid = rest.split(":", 1)[0]
            if host == _HOST and pid.isdigit() and not process_alive(int(pid)):
                dead.append(claimed_by)
        if dead:
            self._rows.filter(claimed_by__in=dead).update(claimed_by=None, claim_expires_ms=0)

    def delete(self, seqs: Sequence[int], *, destination: str) -> None:
        """Forget messages the queue accepted."""
        try:
            self._rows.filter(id__in=list(seqs)).delete()
        except DatabaseError as exc:
            self._forget_broken_connection()
            raise TransportError(f"cannot delete pushed messages from the outbox {self.path}: {exc}") from None

    def release(self, seqs: Sequence[int], *, destination: str, backoff_ms: int, error: str) -> None:
        """Give claimed messages back after a failed push; none of their queue is pushed for ``backoff_ms``."""
        now = _now_ms()
        try:
            self._rows.filter(id__in=list(seqs)).update(
                claimed_by=None, claim_expires_ms=0, attempts=F("attempts") + 1,
                not_before_ms=now + backoff_ms, last_error=error[:500], error_at_ms=now)
        except DatabaseError as exc:
            self._forget_broken_connection()
            raise TransportError(f"cannot release messages in the outbox {self.path}: {exc}") from None

    def _forget_broken_connection(self) -> None:
        """After a database error outside any transaction of ours: drop the connection if it is unusable,
        so the next try reconnects (the database restarted, a network blip)."""
        connection = connections[self.using]
        if connection.in_atomic_block:
            return
        try:
            connection.close_if_unusable_or_obsolete()
        except DatabaseError:
            pass

    # -- inspection ---------------------------------------------------------------------------------------
    def stats(self, destination: str | None = None) -> OutboxStats:
        now = _now_ms()
        rows = self._rows if destination is None else self._rows.filter(destination=destination)
        try:
            by_queue = dict(rows.order_by().values_list("queue").annotate(n=Count("id")))
            oldest = rows.aggregate(oldest=Min("enqueued_at_ms"))["oldest"]
            failed = rows.filter(error_at_ms__isnull=False).order_by("-error_at_ms").values_list(
                "last_error", "error_at_ms").first()
        except DatabaseError as exc:
            self._forget_broken_connection()
            raise TransportError(f"cannot read the outbox {self.path}: {exc}") from None
        return OutboxStats(
            path=self.path,
            depth=sum(by_queue.values()),
            oldest_age_seconds=max(0.0, (now - oldest) / 1000) if oldest is not None else 0.0,
            by_queue=by_queue,
            last_error=failed[0] if failed else None,
            last_error_age_seconds=(now - failed[1]) / 1000 if failed else None,
        )

    def depth(self, destination: str) -> int:
        try:
            return self._rows.filter(destination=destination).count()
        except DatabaseError as exc:
            self._forget_broken_connection()
            raise TransportError(f"cannot read the outbox {self.path}: {exc}") from None
