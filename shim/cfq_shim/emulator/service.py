"""The stand-in's queue service: Cloudflare's REST resources on top of the embedded store.

The embedded store (:mod:`cfq_shim.embedded`) already keeps Cloudflare's semantics and limits (ids,
leases, attempts, dead letters, sizes, delays, paused delivery); this module only shapes its records
into the REST API's objects and adds what exists on Cloudflare's side alone: queue-name rules,
per-queue throughput, and consumer objects.

Differences from Cloudflare, on purpose (docs/cloudflare.md):
- a pull from a queue without an ``http_pull`` consumer is served (Cloudflare wants one;
  ``cfq-shim provision`` and the Cloudflare transport always create it);
- ``settings.delivery_delay`` on a queue is refused unless 0 (the embedded store has no queue-wide delay).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from ..embedded import EmbeddedStore, QueueConfig, QueueRecord, StoredMessage, new_id
from ..transport.base import QueuePaused, QueueSettings
from ..transport.cloudflare_names import is_valid_cloudflare_queue_name
from ..transport.rest import settings_body, settings_from_rest
from . import api
from .api import ApiError

__all__ = ["QueueService"]

_QUEUE_ID = re.compile(r"^[0-9a-f]{32}$")
#: Content types whose bodies travel base64-encoded in JSON (pull consumers cannot read ``v8``).
_BINARY = ("bytes", "v8")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class QueueService:
    """What the routes call. Raises :class:`ApiError` or the store's ``TransportError`` subclasses."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.limits = store.limits
        # queue id -> (second, messages accepted in that second): Cloudflare's per-queue throughput.
        self._sent: dict[str, tuple[int, int]] = {}
        self._sent_lock = threading.Lock()
        #: queue id -> when its last purge started (ISO 8601), for ``GET .../purge``.
        self._purged_at: dict[str, str] = {}

    # -- queues ------------------------------------------------------------------------------------
    def list_queues(self) -> list[QueueRecord]:
        return self.store.list_queues()

    def create_queue(self, name: str) -> QueueRecord:
        self._check_name(name)
        # The store refuses a queue past ``max_queues`` inside its write transaction (InvalidArgument,
        # answered as 400 / 10203), so two concurrent creates cannot both slip under the limit.
        return self.store.create_queue(name)

    def _check_name(self, name: str) -> None:
        if not is_valid_cloudflare_queue_name(name, limits=self.limits):
            raise ApiError(
                api.BAD_ARGUMENT,
                f"queue name {name!r} is not valid: use lowercase letters, digits and dashes, starting and "
                f"ending with a letter or digit, at most {self.limits.max_queue_name_length} characters",
            )

    def get_queue(self, queue_id: str) -> QueueRecord:
        if not _QUEUE_ID.match(queue_id):
            raise ApiError(api.MALFORMED_ID, f"queue id {queue_id!r} is not 32 hexadecimal digits")
        return self.store.get_queue(queue_id)

    def update_queue(self, queue_id: str, *, queue_name: str | None, delivery_paused: bool | None,
                     delivery_delay_seconds: int | None, retention_seconds: int | None) -> QueueRecord:
        record = self.get_queue(queue_id)
        if delivery_delay_seconds:
            raise ApiError(api.BAD_ARGUMENT, "the stand-in does not support a queue-wide delivery_delay; "
                                             "set delay_seconds on each message")
        if queue_name is not None and queue_name != record.queue_name:
            self._check_name(queue_name)
            record = self.store.rename_queue(queue_id, queue_name)
        changes: dict[str, Any] = {}
        if delivery_paused is not None:
            changes["delivery_paused"] = delivery_paused
        if retention_seconds is not None:
            changes["retention_seconds"] = retention_seconds
        if changes:
            record = self.store.configure(queue_id, record.config.with_changes(**changes))
        return record

    def delete_queue(self, queue_id: str) -> None:
        self.get_queue(queue_id)
        self.store.delete_queue(queue_id)

    def queue_object(self, record: QueueRecord) -> dict[str, Any]:
        consumers = [self._consumer_object(record)] if record.config.consumer_id else []
        return {
            "queue_id": record.queue_id,
            "queue_name": record.queue_name,
            "created_on": _iso(record.created_on_ms),
            "modified_on": _iso(record.modified_on_ms),
            "producers": [],
            "producers_total_count": 0,
            "consumers": consumers,
            "consumers_total_count": len(consumers),
            "settings": {
                "delivery_delay": 0,
                "delivery_paused": record.config.delivery_paused,
                "message_retention_period": record.config.retention_seconds,
            },
        }

    def metrics(self, queue_id: str) -> dict[str, int]:
        record = self.get_queue(queue_id)
        oldest = self.store.peek(queue_id, batch_size=1)
        return {
            "backlog_count": record.backlog_count,
            "backlog_bytes": record.backlog_bytes,
            "oldest_message_timestamp_ms": oldest[0].timestamp_ms if oldest else 0,
        }

    def purge_queue(self, queue_id: str) -> int:
        self.get_queue(queue_id)
        self._purged_at[queue_id] = _iso(self.store.now_ms())
        return self.store.purge(queue_id)

    def purge_status(self, queue_id: str) -> dict[str, Any]:
        # A purge finishes inside its request here, so the last one is always complete.
        self.get_queue(queue_id)
        return {"completed": "true", "started_at": self._purged_at.get(queue_id)}

    # -- consumers -----------------------------------------------------------------------------------
    def _consumer_object(self, record: QueueRecord) -> dict[str, Any]:
        config = record.config
        return {
            "consumer_id": config.consumer_id,
            "created_on": _iso(record.modified_on_ms),
            "queue_name": record.queue_name,
            "type": "http_pull",
            "dead_letter_queue": config.consumer.dead_letter_queue or "",
            "settings": settings_body(config.consumer),
        }

    def create_consumer(self, queue_id: str, **settings: Any) -> dict[str, Any]:
        record = self.get_queue(queue_id)
        if record.config.consumer_id:
            raise ApiError(api.CONSUMER_EXISTS,
                           f"queue {record.queue_name!r} already has an http_pull consumer")
        return self._write_consumer(record, new_id(), **settings)

    def update_consumer(self, queue_id: str, consumer_id: str, **settings: Any) -> dict[str, Any]:
        record = self._require_consumer(queue_id, consumer_id)
        return self._write_consumer(record, consumer_id, **settings)

    def _write_consumer(self, record: QueueRecord, consumer_id: str, *, dead_letter_queue: str | None,
                        settings: Mapping[str, Any]) -> dict[str, Any]:
        """Set the consumer from a request's ``settings`` object (REST names); a field it leaves out takes
        Cloudflare's default, as an update on Cloudflare does."""
        if dead_letter_queue is not None:
            self._check_name(dead_letter_queue)
        consumer = settings_from_rest(settings, dead_letter_queue=dead_letter_queue,
                                      defaults=QueueSettings.defaults(self.limits))
        config = record.config.with_changes(consumer_id=consumer_id, consumer=consumer)
        return self._consumer_object(self.store.configure(record.queue_id, config))

    def _require_consumer(self, queue_id: str, consumer_id: str) -> QueueRecord:
        record = self.get_queue(queue_id)
        if record.config.consumer_id != consumer_id:
            raise ApiError(api.CONSUMER_NOT_FOUND,
                           f"consumer {consumer_id!r} does not exist on queue {record.queue_name!r}")
        return record

    def list_consumers(self, queue_id: str) -> list[dict[str, Any]]:
        record = self.get_queue(queue_id)
        return [self._consumer_object(record)] if record.config.consumer_id else []

    def get_consumer(self, queue_id: str, consumer_id: str) -> dict[str, Any]:
        return self._consumer_object(self._require_consumer(queue_id, consumer_id))

    def delete_consumer(self, queue_id: str, consumer_id: str) -> None:
        record = self._require_consumer(queue_id, consumer_id)
        defaults = QueueConfig.defaults(self.limits)
        self.store.configure(queue_id, defaults.with_changes(
            delivery_paused=record.config.delivery_paused,
            retention_seconds=record.config.retention_seconds,
        ))

    # -- messages ------------------------------------------------------------------------------------
    def push(self, queue_id: str, messages: Sequence[tuple[str, str, int]]) -> None:
        """Store ``(body text, content type, delay)`` items, all or none (binary bodies arrive base64)."""
        self.get_queue(queue_id)
        items = [(_stored_body(text, content_type), content_type, delay) for text, content_type, delay in messages]
        second = self._admit(queue_id, len(items))
        try:
            self.store.push_batch(queue_id, items)
        except BaseException:
            self._refund(queue_id, second, len(items))  # a refused push stored nothing
            raise

    def _admit(self, queue_id: str, count: int) -> int:
        """Refuse sends above ``max_messages_per_second`` per queue with 429 / 10250, as Cloudflare does.

        Returns the second the messages were counted in."""
        second = self.store.now_ms() // 1000
        limit = self.limits.max_messages_per_second
        with self._sent_lock:
            window, used = self._sent.get(queue_id, (second, 0))
            if window != second:
                used = 0
            if used + count > limit:
                raise ApiError(api.OVERLOADED, f"queue {queue_id} accepts {limit} messages per second; "
                                               "slow down", retry_after_seconds=1)
            self._sent[queue_id] = (second, used + count)
        return second

    def _refund(self, queue_id: str, second: int, count: int) -> None:
        """Give back what :meth:`_admit` counted in ``second`` for a push that was refused."""
        with self._sent_lock:
            window, used = self._sent.get(queue_id, (second, 0))
            if window == second:
                self._sent[queue_id] = (second, max(0, used - count))

    def pull(self, queue_id: str, *, batch_size: int | None, visibility_timeout_ms: int | None) -> dict[str, Any]:
        record = self.get_queue(queue_id)
        try:
            result = self.store.pull(queue_id, batch_size=batch_size, visibility_timeout_ms=visibility_timeout_ms)
        except QueuePaused:
            # Cloudflare answers a pull from a paused queue with 409, not the 429 of its other 10252s.
            raise ApiError(api.QUEUE_PAUSED, f"queue_delivery_paused: delivery of queue "
                                             f"{record.queue_name!r} is paused", status=409) from None
        return {
            "message_backlog_count": result.backlog_count,
            "messages": [_message_object(m, with_lease=True) for m in result.messages],
            "metadata": {"metrics": self.metrics(queue_id)},
        }

    def ack(self, queue_id: str, *, acks: Sequence[str], retries: Sequence[tuple[str, int | None]]) -> dict[str, Any]:
        self.get_queue(queue_id)
        result = self.store.ack(queue_id, acks=acks, retries=retries)
        return {"ackCount": result.ack_count, "retryCount": result.retry_count, "warnings": dict(result.warnings)}

    def peek(self, queue_id: str, *, batch_size: int | None) -> dict[str, Any]:
        self.get_queue(queue_id)
        messages = self.store.peek(queue_id, batch_size=batch_size if batch_size is not None else 10)
        return {"messages": [_message_object(m, with_lease=False) for m in messages]}

    def purge_refs(self, queue_id: str, refs: Sequence[str]) -> dict[str, Any]:
        """Delete peeked messages by ref (the ref is the message id)."""
        self.get_queue(queue_id)
        delete = getattr(self.store, "delete_messages", None)
        if delete is None:
            raise ApiError(api.INTERNAL, "purging by ref needs EmbeddedStore.delete_messages", status=501)
        warnings = delete(queue_id, list(refs))
        return {"errors": [], "warnings": dict(warnings)}


def _stored_body(text: str, content_type: str) -> str | bytes:
    if content_type in _BINARY:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(api.BAD_ARGUMENT, f"a {content_type} body must be base64") from None
    return text


def _message_object(message: StoredMessage, *, with_lease: bool) -> dict[str, Any]:
    body = message.body
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode("ascii")
    shown: dict[str, Any] = {
        "id": message.id,
        "body": body,
        "attempts": message.attempts,
        "timestamp_ms": message.timestamp_ms,
        "metadata": {"CF-sourceMessageSource": "api", "CF-Content-Type": message.content_type},
    }
    if with_lease:
        shown["lease_id"] = message.lease_id
    else:
        shown["ref"] = message.id
    return shown
