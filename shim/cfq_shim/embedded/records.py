"""What the embedded store hands back: frozen records, free of SQLite types."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from ..limits import DEFAULT_LIMITS, Limits
from ..transport import validation
from ..transport.base import QueueSettings

__all__ = ["QueueConfig", "QueueRecord", "StoredMessage", "PullResult", "StoreStats"]


@dataclass(frozen=True)
class QueueConfig:
    """A queue's own settings and its ``http_pull`` consumer's settings (a :class:`QueueSettings`, the one
    type every transport uses), kept together as on Cloudflare.

    Stored as flat JSON in ``queues.settings`` (the consumer's fields beside the queue's, as before the
    consumer had a type of its own); unknown keys in stored JSON are ignored so an older reader can open
    a newer file.
    """

    #: The consumer: retries, dead-letter queue, default retry delay, lease and pull batch size.
    consumer: QueueSettings = QueueSettings()
    #: Messages older than this are deleted, delivered or not.
    retention_seconds: int = DEFAULT_LIMITS.default_retention_seconds
    #: Delay of a pushed message that names none (Cloudflare's queue-wide ``delivery_delay``).
    delivery_delay_seconds: int = 0
    #: While True, pull raises QueuePaused (HTTP 409); pushes are still accepted.
    delivery_paused: bool = False
    #: The id of the queue's ``http_pull`` consumer, for the REST stand-in; None when none is registered.
    consumer_id: str | None = None

    @classmethod
    def defaults(cls, limits: Limits) -> "QueueConfig":
        """The defaults of ``limits`` (which may differ from Cloudflare's current ones)."""
        return cls(consumer=QueueSettings.defaults(limits), retention_seconds=limits.default_retention_seconds)

    def validated(self, limits: Limits, *, queue_name: str) -> "QueueConfig":
        """Self, after checking every value against ``limits``; raises InvalidArgument / InvalidDelay."""
        validation.check_consumer_settings(self.consumer, limits, queue_name=queue_name)
        validation.check_delay(self.delivery_delay_seconds, limits, what="delivery_delay")
        validation.check_retention(self.retention_seconds, limits)
        return self

    def with_changes(self, **changes: Any) -> "QueueConfig":
        """A copy with ``changes``; the consumer's fields (``max_retries=...``) may be named directly."""
        consumer_changes = {name: changes.pop(name) for name in list(changes) if name in _CONSUMER_FIELDS}
        if consumer_changes:
            changes["consumer"] = replace(changes.get("consumer", self.consumer), **consumer_changes)
        return replace(self, **changes)

    def to_json(self) -> str:
        flat = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "consumer"}
        flat.update(asdict(self.consumer))
        return json.dumps(flat, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "QueueConfig":
        data: Mapping[str, Any] = json.loads(text)
        own = {f.name for f in fields(cls)} - {"consumer"}
        consumer = QueueSettings(**{k: v for k, v in data.items() if k in _CONSUMER_FIELDS})
        return cls(consumer=consumer, **{k: v for k, v in data.items() if k in own})


_CONSUMER_FIELDS = frozenset(f.name for f in fields(QueueSettings))


@dataclass(frozen=True)
class QueueRecord:
    queue_id: str
    queue_name: str
    created_on_ms: int
    modified_on_ms: int
    config: QueueConfig
    #: Messages held (ready, delayed and in flight).
    backlog_count: int
    #: Their summed cost (body + metadata bytes), as the backlog limit counts it.
    backlog_bytes: int


@dataclass(frozen=True)
class StoredMessage:
    """A message as pull or peek return it. ``lease_id`` is empty for peek."""

    id: str
    body: str | bytes
    content_type: str
    attempts: int
    timestamp_ms: int
    lease_id: str
    #: When the lease ends (pull) or when the message becomes visible (peek).
    visible_at_ms: int


@dataclass(frozen=True)
class PullResult:
    messages: list[StoredMessage]
    #: Messages left in the queue after this pull, leased ones included (Cloudflare's ``message_backlog_count``).
    backlog_count: int


@dataclass(frozen=True)
class StoreStats:
    ready: int
    delayed: int
    in_flight: int
    backlog_count: int
    backlog_bytes: int
    #: Messages held by the dead-letter queue named in the settings (0 when none is set or it is missing).
    dead_letters: int
