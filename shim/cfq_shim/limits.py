"""Cloudflare Queues' limits, in one place.

Cloudflare changes these often (see ../shared/docs/cloudflare-queues.md in the steering repo and
docs/limits.md here). Every transport, the worker, the producer and the local REST stand-in read
them from a :class:`Limits` instance; nothing else in the code base spells these numbers.

Sizes use Cloudflare's units: 1 KB = 1000 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Limits", "DEFAULT_LIMITS", "deliveries_allowed", "body_bytes"]


@dataclass(frozen=True)
class Limits:
    #: Largest message, body plus Cloudflare's own metadata.
    max_message_bytes: int = 128_000
    #: Bytes of each message that Cloudflare keeps for its own metadata (counted against the size).
    message_metadata_bytes: int = 100
    #: One bulk push (``/messages/batch``): at most this many messages ...
    max_batch_messages: int = 100
    #: ... and at most this many bytes in total.
    max_batch_bytes: int = 256_000
    #: ``delay_seconds`` on push, bulk push and retry: 0 .. this (24 h since Feb 2026).
    max_delay_seconds: int = 86_400
    #: Pull ``batch_size``: 1 .. this.
    max_pull_batch_size: int = 100
    default_pull_batch_size: int = 5
    #: Pull ``visibility_timeout_ms``: up to 12 h; there is no call to extend a lease.
    max_visibility_timeout_ms: int = 12 * 3600 * 1000
    default_visibility_timeout_ms: int = 30_000
    #: Consumer ``max_retries``: 0 .. this.
    max_max_retries: int = 100
    default_max_retries: int = 3
    #: Consumer ``retry_delay`` default (seconds).
    default_retry_delay_seconds: int = 0
    #: Message retention: 60 s .. 14 days, 4 days by default.
    min_retention_seconds: int = 60
    max_retention_seconds: int = 14 * 86_400
    default_retention_seconds: int = 4 * 86_400
    #: Throughput per queue; above it sends fail with 429 (error 10250).
    max_messages_per_second: int = 5_000
    #: Queues per account.
    max_queues: int = 10_000
    #: Longest queue name Cloudflare accepts (lowercase letters, digits and dashes).
    max_queue_name_length: int = 63
    #: Backlog per queue (error 10251 when full).
    max_backlog_bytes: int = 25_000_000_000
    #: Push-consumer (Worker) batching.
    max_consumer_batch_size: int = 100
    default_consumer_batch_size: int = 10
    max_consumer_batch_timeout_seconds: int = 60
    default_consumer_batch_timeout_seconds: int = 5
    #: Cron Triggers one Worker can have (``beat --export-wrangler``). Cloudflare's limits page counts
    #: 5 per account on Workers Free and 250 on Paid; deploys with a 6th trigger on one Worker are
    #: refused, so 5 is the safe default (raise it with ``cfq_limits`` or ``--max-cron-triggers``).
    max_cron_triggers: int = 5

    @property
    def max_body_bytes(self) -> int:
        """The largest body a message may carry once Cloudflare's metadata is counted."""
        return self.max_message_bytes - self.message_metadata_bytes

    def with_overrides(self, **changes: Any) -> "Limits":
        """A copy with some limits changed, for when Cloudflare changes one before we do."""
        return replace(self, **changes)


DEFAULT_LIMITS = Limits()


def deliveries_allowed(max_retries: int) -> int:
    """How many times a message is delivered before it goes to the dead-letter queue.

    The docs disagree by one. This project follows the push-consumer docs, Miniflare and Celery:
    the first try plus ``max_retries`` retries. This is the only place that rule is written.
    """
    return max_retries + 1


def body_bytes(body: str | bytes) -> int:
    """The size of a message body in bytes (UTF-8 for text): the one way sizes are counted, by the
    sender's check (:func:`cfq_shim.envelope.check_body_size`) and by every transport's
    (:func:`cfq_shim.transport.validation.message_cost`)."""
    if isinstance(body, bytes):
        return len(body)
    # ASCII bodies (the usual JSON envelope) are as long in bytes as in characters: skip the encode.
    return len(body) if body.isascii() else len(body.encode("utf-8"))
