"""Settling a pulled batch: collect what each message needs, then one ack call for the whole batch.

Every message of a batch ends in exactly one :class:`Settlement`: ack it, retry it after a delay, or
send something first (a new envelope, a dead-letter record, an ETA hop) and then ack it. When the last
message of a batch is settled the batch is flushed:

1. the messages to send go out first, grouped by queue (one bulk push per queue and chunk);
2. then one ``ack`` call settles the acks and the retries of the batch together.

A message whose send failed is *not* acked: its lease expires and it is delivered again, so nothing is
lost. A failed ack never blocks the worker either: it is logged, and the leases expire and the
messages come back (at-least-once). A batch can also be flushed early, for the messages already
settled, when its lease is running out (see ``flush_settled``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ..transport.base import LeasedMessage, RetryRequest, Transport

__all__ = ["Settlement", "Batch", "ACK", "NOTHING"]

logger = logging.getLogger("cfq_shim.worker")

#: Sends a list of (queue, body, delay_seconds); raises on failure (all or nothing per call).
SendMany = Callable[[Sequence[tuple[str, str, int]]], None]


@dataclass(frozen=True)
class Settlement:
    """What to do with one leased message once it is done with."""

    #: "ack", "retry" (hand back after ``delay_seconds``) or "none" (already acked early).
    action: str = "ack"
    delay_seconds: int = 0
    #: Optional message to send before the ack: (queue, body, delay_seconds).
    send: tuple[str, str, int] | None = None


ACK = Settlement("ack")
NOTHING = Settlement("none")


class Batch:
    """The messages of one pull, from one queue, and their settlements."""

    def __init__(
        self,
        queue: str,
        messages: Sequence[LeasedMessage],
        *,
        lease_ms: int,
        transport: Transport,
        send_many: SendMany,
        on_flushed: Callable[["Batch"], None] | None = None,
        leased_at: float | None = None,
    ) -> None:
        self.queue = queue
        self.messages = list(messages)
        self.lease_ms = lease_ms
        #: ``time.monotonic()`` when the lease started (at the latest).
        self.leased_at = time.monotonic() if leased_at is None else leased_at
        self.lease_deadline = self.leased_at + lease_ms / 1000.0
        self._transport = transport
        self._send_many = send_many
        self._on_flushed = on_flushed
        self._lock = threading.Lock()
        self._pending: list[tuple[LeasedMessage, Settlement]] = []
        self._unsettled = len(self.messages)
        self.flushed = False

    @property
    def unsettled(self) -> int:
        return self._unsettled

    def settle(self, message: LeasedMessage, settlement: Settlement) -> None:
        """Record ``settlement`` for ``message``; flush when it was the last one."""
        with self._lock:
            self._pending.append((message, settlement))
            self._unsettled -= 1
            complete = self._unsettled == 0
        if complete:
            self._flush(final=True)

    def flush_settled(self) -> None:
        """Flush what is settled so far (the lease of a long batch is running out)."""
        self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            settle_now(self._transport, self._send_many, self.queue, pending)
        if final:
            self.flushed = True
            if self._on_flushed is not None:
                self._on_flushed(self)


def settle_now(
    transport: Transport,
    send_many: SendMany,
    queue: str,
    pending: Sequence[tuple[LeasedMessage, Settlement]],
) -> None:
    """Send what must be sent, then ack and retry in one call. Never raises."""
    to_send = [(m, s) for m, s in pending if s.send is not None]
    failed_sends: set[str] = set()
    if to_send:
        try:
            send_many([s.send for _, s in to_send])  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - a send failure must not stop the worker
            # The messages stay leased and come back after their lease: nothing is lost.
            logger.error(
                "Could not send %d message(s) before acking (%s: %s); they will be delivered again.",
                len(to_send), type(exc).__name__, exc,
            )
            failed_sends = {m.lease_id for m, _ in to_send}
    acks = [m.lease_id for m, s in pending if s.action == "ack" and m.lease_id not in failed_sends]
    retries = [
        RetryRequest(m.lease_id, s.delay_seconds)
        for m, s in pending
        if s.action == "retry" and m.lease_id not in failed_sends
    ]
    if not acks and not retries:
        return
    try:
        result = transport.ack(queue, acks=acks, retries=retries)
    except Exception as exc:  # noqa: BLE001 - a failed ack never blocks the worker
        logger.error(
            "Ack of %d and retry of %d message(s) on %r failed (%s: %s); their leases will expire and "
            "they will be delivered again.",
            len(acks), len(retries), queue, type(exc).__name__, exc,
        )
        return
    if result.warnings:
        logger.warning("Ack on %r: %d warning(s), e.g. %s", queue, len(result.warnings),
                       next(iter(result.warnings.values())))
