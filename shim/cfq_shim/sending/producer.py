"""Sending encoded envelopes to queues, within Cloudflare's batch limits.

The producer is the only part of the app that talks to the transport. It declares a queue the first
time it sends to it when the transport creates queues on use (embedded, memory), and it never half-sends
a batch: :meth:`Producer.send_many` checks every message against the limits before sending any.
"""

from __future__ import annotations

import threading
from collections import deque
from operator import itemgetter
from typing import Callable, Sequence

from ..envelope import check_body_size
from ..limits import DEFAULT_LIMITS, Limits
from ..transport.base import OutgoingMessage, QueueSettings, Transport
from ..transport.validation import take_batch

__all__ = ["Producer"]


_cost = itemgetter(1)


class Producer:
    """Sends message bodies (already-encoded envelopes) through a transport."""

    def __init__(
        self,
        transport: Transport,
        *,
        limits: Limits = DEFAULT_LIMITS,
        queue_settings: Callable[[str], QueueSettings | None] | None = None,
    ) -> None:
        self.transport = transport
        self.limits = limits
        self._queue_settings = queue_settings
        self._declared: set[str] = set()
        self._lock = threading.Lock()

    def _ensure_queue(self, queue: str) -> None:
        if queue in self._declared or not self.transport.auto_declare_queues:
            return
        with self._lock:
            if queue not in self._declared:
                settings = self._queue_settings(queue) if self._queue_settings else None
                self.transport.declare_queue(queue, settings)
                self._declared.add(queue)

    def _delay(self, delay_seconds: int) -> int:
        # An ETA further out than the transport allows is sent at the maximum; the worker re-delays it
        # in hops from the envelope's eta.
        if delay_seconds <= 0:
            return 0
        return min(int(delay_seconds), self.limits.max_delay_seconds)

    def _check(self, queue: str, body: str) -> int:
        """The body's size, after the one size rule (:func:`cfq_shim.envelope.check_body_size`)."""
        return check_body_size(body, self.limits, what=f"a message to queue {queue!r}")

    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        """Send one body to ``queue`` (created on first use where the transport allows it)."""
        if queue not in self._declared:
            self._ensure_queue(queue)
        self.transport.send(queue, body, delay_seconds=self._delay(delay_seconds) if delay_seconds else 0)

    def send_batch(self, queue: str, items: Sequence[tuple[str, int]]) -> None:
        """Send ``(body, delay_seconds)`` items that already form one batch within the limits (an outbox
        claim does) as one transport call, all or none. The transport checks the limits itself, so the
        bodies are not checked one by one here first, as :meth:`send_many` does for arbitrary items."""
        if queue not in self._declared:
            self._ensure_queue(queue)
        delay = self._delay
        self.transport.send_batch(queue, [OutgoingMessage(body, delay(seconds)) for body, seconds in items])

    def send_many(self, items: Sequence[tuple[str, str, int]]) -> None:
        """Send ``(queue, body, delay_seconds)`` items, batched per queue within the batch limits.

        Every body is checked before anything is sent, so a bad item sends nothing. Each transport call
        is all-or-nothing; a transport error part-way leaves the earlier chunks sent and raises.
        """
        by_queue: dict[str, deque[tuple[OutgoingMessage, int]]] = {}
        metadata = self.limits.message_metadata_bytes
        for queue, body, delay_seconds in items:
            size = self._check(queue, body)
            # A batch counts each message as body + Cloudflare's metadata (validation.message_cost).
            by_queue.setdefault(queue, deque()).append((OutgoingMessage(body, self._delay(delay_seconds)), size + metadata))
        for queue, waiting in by_queue.items():
            self._ensure_queue(queue)
            while waiting:  # the one batching rule, shared with the coalescing and buffered senders
                self.transport.send_batch(queue, [message for message, _ in take_batch(waiting, _cost, self.limits)])
