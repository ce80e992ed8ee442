"""The checks Cloudflare Queues makes on every request, shared by every transport and the REST stand-in.

Each check raises the :mod:`cfq_shim.transport.base` error that carries Cloudflare's code, with a
message that names the value and the bound. The bounds come only from :class:`cfq_shim.limits.Limits`.

How sizes are counted (docs/limits.md): a message costs its body in UTF-8 bytes plus
``limits.message_metadata_bytes`` (Cloudflare's own metadata). That cost must not exceed
``max_message_bytes``; a bulk push must not exceed ``max_batch_messages`` messages nor
``max_batch_bytes`` of summed costs. The producer chunks with the same :func:`message_cost`.
"""

from __future__ import annotations

from typing import Callable, Deque, Iterable, TypeVar

from ..limits import Limits, body_bytes
from .base import (
    QueueSettings,
    BatchTooLarge,
    InvalidArgument,
    InvalidDelay,
    MessageTooLarge,
    TooManyMessages,
    TransportError,
)

__all__ = [
    "CONTENT_TYPES",
    "body_bytes",
    "message_cost",
    "check_delay",
    "check_message",
    "check_batch",
    "check_content_type",
    "check_pull_batch_size",
    "check_visibility_timeout",
    "check_max_retries",
    "check_retention",
    "take_batch",
    "check_consumer_settings",
]

_Item = TypeVar("_Item")

#: Content types Cloudflare accepts on push (pull consumers cannot read ``v8``, but it is accepted).
CONTENT_TYPES = frozenset({"text", "json", "bytes", "v8"})


def message_cost(body: str | bytes, limits: Limits) -> int:
    """What one message counts against the message and batch size limits: body plus metadata."""
    return body_bytes(body) + limits.message_metadata_bytes


def _check_int_range(value: object, low: int, high: int, *, what: str, unit: str = "",
                     error: type[TransportError] = InvalidArgument) -> int:
    """``value`` when it is an integer (not a bool) in ``low .. high``; else ``error`` naming both."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"{what} must be an integer from {low} to {high}{unit}, got {value!r}")
    return value


def check_delay(delay_seconds: object, limits: Limits, *, what: str = "delay_seconds") -> int:
    """A push, bulk push or retry delay: an integer in 0 .. ``max_delay_seconds`` (error 10202)."""
    return _check_int_range(delay_seconds, 0, limits.max_delay_seconds, what=what, unit=" seconds",
                            error=InvalidDelay)


def check_message(body: object, limits: Limits) -> int:
    """One message body: text or bytes, at most ``max_message_bytes`` with metadata (error 10204).

    Returns the message's cost (see :func:`message_cost`)."""
    if not isinstance(body, (str, bytes)):
        raise InvalidArgument(f"a message body must be text or bytes, got {type(body).__name__}")
    cost = message_cost(body, limits)
    if cost > limits.max_message_bytes:
        raise MessageTooLarge(
            f"message of {cost} bytes (body {cost - limits.message_metadata_bytes} + "
            f"{limits.message_metadata_bytes} metadata) exceeds the limit of {limits.max_message_bytes} bytes"
        )
    return cost


def check_batch(costs: Iterable[int], limits: Limits) -> int:
    """A bulk push, given each message's cost: at most ``max_batch_messages`` messages (error 10206)
    and ``max_batch_bytes`` in total (error 10205). Returns the total cost."""
    costs = list(costs)
    if len(costs) > limits.max_batch_messages:
        raise TooManyMessages(
            f"a batch holds at most {limits.max_batch_messages} messages, got {len(costs)}"
        )
    total = sum(costs)
    if total > limits.max_batch_bytes:
        raise BatchTooLarge(
            f"a batch holds at most {limits.max_batch_bytes} bytes, got {total} bytes in {len(costs)} messages"
        )
    return total


def take_batch(waiting: Deque[_Item], cost: Callable[[_Item], int], limits: Limits) -> list[_Item]:
    """Pop from the front of ``waiting`` the longest run that fits one bulk push: at most
    ``max_batch_messages`` items and ``max_batch_bytes`` of summed ``cost(item)``. The first item is
    always taken (each message was checked against ``max_message_bytes`` already)."""
    batch: list[_Item] = []
    total = 0
    while waiting and len(batch) < limits.max_batch_messages:
        item_cost = cost(waiting[0])
        if batch and total + item_cost > limits.max_batch_bytes:
            break
        batch.append(waiting.popleft())
        total += item_cost
    return batch


def check_content_type(content_type: object) -> str:
    """One of :data:`CONTENT_TYPES` (error 10203)."""
    if content_type not in CONTENT_TYPES:
        raise InvalidArgument(
            f"content_type must be one of {', '.join(sorted(CONTENT_TYPES))}, got {content_type!r}"
        )
    return content_type  # type: ignore[return-value]


def check_pull_batch_size(batch_size: object, limits: Limits) -> int:
    """A pull ``batch_size``: an integer in 1 .. ``max_pull_batch_size``."""
    return _check_int_range(batch_size, 1, limits.max_pull_batch_size, what="batch_size")


def check_visibility_timeout(visibility_timeout_ms: object, limits: Limits) -> int:
    """A lease length: an integer in 1 .. ``max_visibility_timeout_ms`` milliseconds."""
    return _check_int_range(visibility_timeout_ms, 1, limits.max_visibility_timeout_ms,
                            what="visibility_timeout_ms", unit=" milliseconds")


def check_max_retries(max_retries: object, limits: Limits) -> int:
    """A consumer's ``max_retries``: an integer in 0 .. ``max_max_retries``."""
    return _check_int_range(max_retries, 0, limits.max_max_retries, what="max_retries")


def check_retention(retention_seconds: object, limits: Limits) -> int:
    """A queue's message retention: ``min_retention_seconds`` .. ``max_retention_seconds``."""
    return _check_int_range(retention_seconds, limits.min_retention_seconds, limits.max_retention_seconds,
                            what="message retention", unit=" seconds")


def check_consumer_settings(settings: QueueSettings, limits: Limits, *, queue_name: str) -> QueueSettings:
    """``settings`` after checking every value against ``limits`` (InvalidArgument / InvalidDelay naming
    the value and the bound); a queue cannot be its own dead-letter queue."""
    check_max_retries(settings.max_retries, limits)
    check_delay(settings.retry_delay_seconds, limits, what="retry_delay")
    check_visibility_timeout(settings.visibility_timeout_ms, limits)
    check_pull_batch_size(settings.batch_size, limits)
    dead_letter_queue = settings.dead_letter_queue
    if dead_letter_queue is not None:
        if not isinstance(dead_letter_queue, str) or not dead_letter_queue:
            raise InvalidArgument(f"dead_letter_queue must be a queue name, got {dead_letter_queue!r}")
        if dead_letter_queue == queue_name:
            raise InvalidArgument(f"queue {queue_name!r} cannot be its own dead-letter queue")
    return settings
