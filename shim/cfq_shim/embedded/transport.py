"""The ``sqlite://`` and ``memory://`` transports' shared body: queue names over the store's queue ids."""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence, TypeVar

from ..limits import DEFAULT_LIMITS, Limits
from ..transport.base import (
    AckResult,
    LeasedMessage,
    OutgoingMessage,
    QueueNotFound,
    QueueSettings,
    QueueStats,
    RetryRequest,
    Transport,
)
from .records import QueueConfig, StoredMessage
from .store import EmbeddedStore

__all__ = ["StoreTransport"]

T = TypeVar("T")


class StoreTransport(Transport):
    """A :class:`Transport` over an :class:`EmbeddedStore`.

    Queue ids are cached by name. A queue deleted (and perhaps re-created) by another process is
    looked up again once before :class:`QueueNotFound` reaches the caller. Sending to a queue nobody
    declared raises QueueNotFound, as on Cloudflare; the producer declares queues first because
    :attr:`auto_declare_queues` is True.
    """

    auto_declare_queues = True

    def __init__(self, store: EmbeddedStore, *, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits)
        self.store = store
        self._ids: dict[str, str] = {}
        self._ids_lock = threading.Lock()

    # -- names ------------------------------------------------------------------------------------------
    def _queue_id(self, name: str) -> str:
        queue_id = self._ids.get(name)
        if queue_id is None:
            queue_id = self.store.queue_by_name(name).queue_id
            with self._ids_lock:
                self._ids[name] = queue_id
        return queue_id

    def _call(self, name: str, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``operation(queue_id, ...)``, refreshing a stale cached id once."""
        queue_id = self._queue_id(name)
        try:
            return operation(queue_id, *args, **kwargs)
        except QueueNotFound as exc:
            return self._with_fresh_id(name, queue_id, exc, operation, *args, **kwargs)

    def _with_fresh_id(self, name: str, stale_id: str, error: QueueNotFound, operation: Callable[..., T],
                       *args: Any, **kwargs: Any) -> T:
        """``operation`` again with ``name``'s id looked up afresh (deleted, perhaps re-created, by another
        process); ``error`` again when the id did not change."""
        with self._ids_lock:
            self._ids.pop(name, None)
        fresh = self._queue_id(name)  # raises QueueNotFound naming the queue
        if fresh == stale_id:
            raise error
        return operation(fresh, *args, **kwargs)

    # -- queues -----------------------------------------------------------------------------------------
    def declare_queue(self, name: str, settings: QueueSettings | None = None) -> None:
        config = None
        if settings is not None:
            try:
                current = self.store.queue_by_name(name).config
            except QueueNotFound:
                current = QueueConfig.defaults(self.limits)
            config = current.with_changes(consumer=settings)
            if settings.dead_letter_queue is not None:
                self.store.ensure_queue(settings.dead_letter_queue)
        record = self.store.ensure_queue(name, config=config)
        with self._ids_lock:
            self._ids[name] = record.queue_id

    def delete_queue(self, name: str) -> None:
        """Delete ``name`` and its messages (not part of the seam; for tests and admin tools)."""
        self._call(name, self.store.delete_queue)
        with self._ids_lock:
            self._ids.pop(name, None)

    def queue_names(self) -> list[str]:
        """Every queue in the store (not part of the seam; for admin tools)."""
        return [record.queue_name for record in self.store.list_queues()]

    def queue_settings(self, name: str) -> QueueSettings:
        return self._call(name, self.store.get_queue).config.consumer

    def stats(self, name: str) -> QueueStats:
        figures = self._call(name, self.store.stats)
        return QueueStats(
            queue=name,
            ready=figures.ready,
            delayed=figures.delayed,
            in_flight=figures.in_flight,
            dead_letters=figures.dead_letters,
            backlog_bytes=figures.backlog_bytes,
        )

    def purge(self, name: str) -> int:
        return self._call(name, self.store.purge)

    # -- producing --------------------------------------------------------------------------------------
    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        # _call's work written out: every .delay() comes here.
        queue_id = self._ids.get(queue) or self._queue_id(queue)
        try:
            self.store.push(queue_id, body, content_type="text", delay_seconds=delay_seconds)
        except QueueNotFound as exc:
            self._with_fresh_id(queue, queue_id, exc, self.store.push, body, content_type="text",
                                delay_seconds=delay_seconds)

    def send_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        items = [(m.body, "text", m.delay_seconds) for m in messages]
        self._call(queue, self.store.push_batch, items)

    # -- consuming --------------------------------------------------------------------------------------
    def pull(self, queue: str, *, batch_size: int, visibility_timeout_ms: int) -> list[LeasedMessage]:
        result = self._call(
            queue, self.store.pull, batch_size=batch_size, visibility_timeout_ms=visibility_timeout_ms
        )
        return [_leased(message, queue) for message in result.messages]

    def ack(
        self,
        queue: str,
        *,
        acks: Sequence[str] = (),
        retries: Sequence[RetryRequest] = (),
    ) -> AckResult:
        if not acks and not retries:
            return AckResult(0, 0, {})
        return self._call(queue, self.store.ack, acks=acks, retries=retries)

    def peek(self, queue: str, *, batch_size: int = 10) -> list[LeasedMessage]:
        messages = self._call(queue, self.store.peek, batch_size=batch_size)
        return [_leased(message, queue) for message in messages]

    def close(self) -> None:
        self.store.close()


def _leased(message: StoredMessage, queue: str) -> LeasedMessage:
    """The seam's view of a stored message (peeked messages carry an empty lease id)."""
    body = message.body if isinstance(message.body, str) else message.body.decode("utf-8")
    return LeasedMessage(
        id=message.id,
        body=body,
        attempts=message.attempts,
        timestamp_ms=message.timestamp_ms,
        lease_id=message.lease_id,
        queue=queue,
    )
