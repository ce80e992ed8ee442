"""What the embedded store hands back: frozen records, free of SQLite types."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from ..limits import DEFAULT_LIMITS, Limits
from ..transport import validation
from ..transport.base import InvalidArgument

__all__ = ["QueueConfig", "QueueRecord", "StoredMessage", "PullResult", "StoreStats"]


@dataclass(frozen=True)
class QueueConfig:
    """A queue's settings and its ``http_pull`` consumer's settings, kept together as on Cloudflare.

    Stored as JSON in ``queues.settings``; unknown keys in stored JSON are ignored so an older
    reader can open a newer file.
    """

    #: Retries after the first delivery; a message is delivered ``deliveries_allowed(max_retries)`` times.
    max_retries: int = DEFAULT_LIMITS.default_max_retries
    #: Name of the dead-letter queue; None deletes exhausted messages, as Cloudflare does.
    dead_letter_queue: str | None = None
    #: Delay of a retry that names none.
    retry_delay_seconds: int = DEFAULT_LIMITS.default_retry_delay_seconds
    #: Lease of a pull that names none.
    visibility_timeout_ms: int = DEFAULT_LIMITS.default_visibility_timeout_ms
    #: Batch size of a pull that names none.
    batch_size: int = DEFAULT_LIMITS.default_pull_batch_size
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
        return cls(
            max_retries=limits.default_max_retries,
            retry_delay_seconds=limits.default_retry_delay_seconds,
            visibility_timeout_ms=limits.default_visibility_timeout_ms,
            batch_size=limits.default_pull_batch_size,
            retention_seconds=limits.default_retention_seconds,
        )

    def validated(self, limits: Limits, *, queue_name: str) -> "QueueConfig":
        """Self, after checking every value against ``limits``; raises InvalidArgument / InvalidDelay."""
        validation.check_max_retries(self.max_retries, limits)
        validation.check_delay(self.retry_delay_seconds, limits, what="retry_delay")
        validation.check_delay(self.delivery_delay_seconds, limits, what="delivery_delay")
        validation.check_visibility_timeout(self.visibility_timeout_ms, limits)
        validation.check_pull_batch_size(self.batch_size, limits)
        validation.check_retention(self.retention_seconds, limits)
        if self.dead_letter_queue is not None:
            if not isinstance(self.dead_letter_queue, str) or not self.dead_letter_queue:
                raise InvalidArgument(f"dead_letter_queue must be a queue name, got {self.dead_letter_queue!r}")
            if self.dead_letter_queue == queue_name:
                raise InvalidArgument(f"queue {queue_name!r} cannot be its own dead-letter queue")
        return self

    def with_changes(self, **changes: Any) -> "QueueConfig":
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "QueueConfig":
        known = {f.name for f in fields(cls)}
        data: Mapping[str, Any] = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in known})


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
