"""Coalescing concurrent ``.delay()`` calls into bulk pushes, without ever acknowledging early.

Over HTTP a push costs a round trip (tens of milliseconds to Cloudflare). When several threads send
at once, :class:`SendCoalescer` lets one of them (the *leader*) carry everybody's messages in one
``bulk_push`` of at most ``Limits.max_batch_messages`` messages and ``Limits.max_batch_bytes``; the
others (*followers*) wait for that request. Each caller returns only once the request that carried
its message succeeded, and gets that request's error otherwise: durable, like a plain push. No timer
is involved: messages that arrive while a request is in flight form the next batch, so a lone caller
pays one round trip, and N concurrent callers share about one.

The trade-off (docs/cloudflare.md): a single thread calling ``.delay()`` in a loop still waits one
round trip per call. Code that sends many tasks at once should use ``group(...)`` or
``app.producer.send_many`` (straight to bulk pushes of up to 100), or send from several threads.
A batch shares its fate: if its request fails after the SDK's retries, every caller in it gets the
error (and may retry; duplicates are skipped by the worker's dedupe window).
"""

from __future__ import annotations

import threading
from collections import deque
from operator import attrgetter
from typing import Callable, Sequence

from .buffered import EXIT_FLUSH_SECONDS, BufferedSender
from ..limits import DEFAULT_LIMITS, Limits
from .producer import Producer
from ..transport.base import OutgoingMessage, QueueSettings, Transport
from ..transport.validation import take_batch

__all__ = ["SendCoalescer", "CoalescingProducer", "DEFAULT_MAX_IN_FLIGHT"]

#: Requests in flight at once per queue, for single sends and for the chunks of one ``send_many``.
#: Four keep a 50 ms round trip from capping a process at ~20 requests a second, and stay far
#: below Cloudflare's 5,000 messages/s per queue and its REST budget.
DEFAULT_MAX_IN_FLIGHT = 4


class _Waiting:
    """One caller's message, and how its request ended."""

    __slots__ = ("message", "cost", "wake", "lead", "finished", "error")

    def __init__(self, message: OutgoingMessage, cost: int) -> None:
        self.message = message
        self.cost = cost
        self.wake = threading.Event()
        self.lead = False
        self.finished = False
        self.error: BaseException | None = None


class SendCoalescer:
    """Leader/follower batching of single sends, per queue, with up to ``max_in_flight`` requests
    at once per queue. Thread-safe."""

    def __init__(self, send_batch: Callable[[str, Sequence[OutgoingMessage]], None], *,
                 limits: Limits = DEFAULT_LIMITS, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._send_batch = send_batch
        self.limits = limits
        self.max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._waiting: dict[str, deque[_Waiting]] = {}
        self._leaders: dict[str, int] = {}

    def send(self, queue: str, message: OutgoingMessage, *, cost: int) -> None:
        """Send ``message`` (whose batch cost is ``cost`` bytes); return once a request carrying it
        succeeded, or raise that request's error."""
        mine = _Waiting(message, cost)
        with self._lock:
            self._waiting.setdefault(queue, deque()).append(mine)
            leading = self._leaders.get(queue, 0) < self.max_in_flight
            if leading:
                mine.lead = True
                self._leaders[queue] = self._leaders.get(queue, 0) + 1
        if not leading:
            mine.wake.wait()
        if mine.lead:  # a leader from the start, or handed the lead by a leader that finished
            self._lead(queue, mine)
        if mine.error is not None:
            raise mine.error

    def _take(self, queue: str) -> list[_Waiting]:
        with self._lock:
            return take_batch(self._waiting[queue], attrgetter("cost"), self.limits)

    def _lead(self, queue: str, mine: _Waiting) -> None:
        mine.wake.clear()  # it may have carried the hand-over; from now on it means "finished"
        while not mine.finished:
            batch = self._take(queue)
            if not batch:  # another leader's request carries ours: wait for it
                mine.wake.wait()
                continue
            error: BaseException | None = None
            try:
                self._send_batch(queue, [item.message for item in batch])
            except BaseException as exc:  # every caller in the batch learns of it, then re-raises it
                error = exc
            for item in batch:
                item.error = error
                item.finished = True
                if item is not mine:
                    item.wake.set()
        with self._lock:
            successor = next((item for item in self._waiting[queue] if not item.lead), None)
            if successor is not None:
                successor.lead = True
                successor.wake.set()
            else:
                self._leaders[queue] -= 1


class CoalescingProducer(Producer):
    """The core :class:`~cfq_shim.sending.producer.Producer`, with concurrent single sends coalesced into
    bulk pushes (see the module docstring); ``send_many`` sends whole bulk chunks, several at once.

    When the transport says ``producer_mode = "buffered"`` (``cloudflare://...?producer=buffered``),
    single sends go to a :class:`~cfq_shim.sending.buffered.BufferedSender` instead and return at once; call
    :meth:`flush` where a lost task matters."""

    def __init__(
        self,
        transport: Transport,
        *,
        limits: Limits = DEFAULT_LIMITS,
        queue_settings: Callable[[str], QueueSettings | None] | None = None,
    ) -> None:
        super().__init__(transport, limits=limits, queue_settings=queue_settings)
        self._coalescer = SendCoalescer(transport.send_batch, limits=limits)
        self._buffer: BufferedSender | None = None
        if transport.producer_mode == "buffered":
            self._buffer = BufferedSender(transport.send_batch, limits=limits,
                                          max_in_flight=DEFAULT_MAX_IN_FLIGHT)

    def flush(self, timeout_seconds: float = EXIT_FLUSH_SECONDS) -> None:
        """Buffered mode: wait until every ``.delay()`` so far was pushed; raise
        :class:`~cfq_shim.sending.buffered.UnsentMessages` for any that could not be. Durable mode: nothing to do."""
        if self._buffer is not None:
            self._buffer.flush(timeout_seconds)

    def send_many(self, items: Sequence[tuple[str, str, int]]) -> None:
        """Like :meth:`Producer.send_many`, with up to ``DEFAULT_MAX_IN_FLIGHT`` bulk pushes in flight.

        Every body is checked before anything is sent; the items are cut into contiguous slices of
        whole batches, sent in parallel. If a push fails, the others may have been sent: the first
        error is raised (the same promise as the plain producer: each push is all-or-nothing)."""
        items = list(items)
        per_batch = self.limits.max_batch_messages
        slices = min(DEFAULT_MAX_IN_FLIGHT, -(-len(items) // per_batch))
        if slices <= 1:
            return super().send_many(items)
        for queue, body, _ in items:
            self._check(queue, body)
        step = -(-len(items) // slices)
        step = -(-step // per_batch) * per_batch  # whole batches per slice
        parts = [items[i:i + step] for i in range(0, len(items), step)]
        errors: list[BaseException] = []

        def send_part(part: Sequence[tuple[str, str, int]]) -> None:
            try:
                Producer.send_many(self, part)
            except BaseException as exc:  # re-raised below in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=send_part, args=(part,), name="cfq-send-many") for part in parts[1:]]
        for thread in threads:
            thread.start()
        send_part(parts[0])
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        size = self._check(queue, body)
        if queue not in self._declared:
            self._ensure_queue(queue)
        message = OutgoingMessage(body, self._delay(delay_seconds))
        cost = size + self.limits.message_metadata_bytes
        if self._buffer is not None:
            self._buffer.send(queue, message, cost=cost)
        else:
            self._coalescer.send(queue, message, cost=cost)
