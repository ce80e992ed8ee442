"""The transport seam: what the producer and the worker need from a queue service.

The contract is Cloudflare Queues' own (docs/limits.md, and cloudflare-queues.md in the steering repo):
named queues; send and batch send with ``delay_seconds``; pull of up to ``max_pull_batch_size``
messages under a visibility timeout (a lease with a lease id and an attempts count); ack and
retry-with-delay in one call; and, per queue, ``max_retries`` and a dead-letter queue that receives a
message after :func:`cfq_shim.limits.deliveries_allowed` deliveries.

Every implementation (``memory://``, ``sqlite:///``, ``cloudflare://``) passes the same contract suite in
tests/contract. Bodies are text (the JSON envelope); a transport never looks inside them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field, fields
from typing import ClassVar, Literal, Mapping, Sequence, TypeVar

from ..exceptions import OperationalError
from ..limits import DEFAULT_LIMITS, Limits

__all__ = [
    "OutgoingMessage",
    "LeasedMessage",
    "RetryRequest",
    "AckResult",
    "QueueSettings",
    "QueueStats",
    "Transport",
    "TransportError",
    "QueueNotFound",
    "InvalidDelay",
    "MessageTooLarge",
    "BatchTooLarge",
    "TooManyMessages",
    "InvalidArgument",
    "QueuePaused",
    "Overloaded",
    "BacklogFull",
    "QueueAlreadyExists",
    "AuthenticationFailed",
    "UnsupportedBrokerURL",
    "ProducerMode",
]

#: ``durable``: ``.delay()`` returns once the service stored the message; ``buffered``: it returns at
#: once and a background thread pushes (cfq_shim.sending.buffered); ``outbox``: it returns once the
#: message is committed to a local outbox file, which a forwarder pushes (cfq_shim.sending.outbox).
ProducerMode = Literal["durable", "buffered", "outbox"]
PRODUCER_MODES: tuple[ProducerMode, ...] = ("durable", "buffered", "outbox")

_T = TypeVar("_T", bound="Transport")


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send: a text body and an optional delay."""

    body: str
    delay_seconds: int = 0


@dataclass(frozen=True)
class LeasedMessage:
    """One message handed out by :meth:`Transport.pull`.

    ``attempts`` starts at 1 and counts the current delivery; an expired lease counts as a try.
    ``lease_id`` settles the message through :meth:`Transport.ack`. After the lease expires the
    message is delivered again with a new lease id (a late ack of the old one is still accepted).
    """

    id: str
    body: str
    attempts: int
    timestamp_ms: int
    lease_id: str
    queue: str


@dataclass(frozen=True)
class RetryRequest:
    """Hand a leased message back, to be delivered again after ``delay_seconds``."""

    lease_id: str
    delay_seconds: int = 0


@dataclass(frozen=True)
class AckResult:
    ack_count: int
    retry_count: int
    #: lease_id -> why that lease was not settled (unknown, already settled, ...).
    warnings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSettings:
    """A queue's consumer settings (Cloudflare keeps them on the ``http_pull`` consumer).

    The one type for them: every transport's :meth:`Transport.declare_queue`/:meth:`Transport.queue_settings`,
    the embedded store (:class:`cfq_shim.embedded.QueueConfig` holds one), the REST stand-in and
    ``provision`` use it; :mod:`cfq_shim.transport.rest` maps it to Cloudflare's REST shape. The defaults
    here are Cloudflare's (a consumer created without settings); the settings an app gives its own
    queues come from :func:`cfq_shim.queue_policy.consumer_settings`."""

    #: Retries after the first delivery; a message is delivered ``deliveries_allowed(max_retries)`` times.
    max_retries: int = DEFAULT_LIMITS.default_max_retries
    #: Name of the dead-letter queue, or None: then an exhausted message is deleted, as on Cloudflare.
    dead_letter_queue: str | None = None
    #: Delay of a retry that names none, and (on Cloudflare) of a message whose lease lapsed.
    retry_delay_seconds: int = DEFAULT_LIMITS.default_retry_delay_seconds
    #: Lease of a pull that names none.
    visibility_timeout_ms: int = DEFAULT_LIMITS.default_visibility_timeout_ms
    #: Batch size of a pull that names none.
    batch_size: int = DEFAULT_LIMITS.default_pull_batch_size

    @classmethod
    def defaults(cls, limits: Limits) -> "QueueSettings":
        """Cloudflare's defaults as ``limits`` states them (which may differ from DEFAULT_LIMITS)."""
        return cls(
            max_retries=limits.default_max_retries,
            retry_delay_seconds=limits.default_retry_delay_seconds,
            visibility_timeout_ms=limits.default_visibility_timeout_ms,
            batch_size=limits.default_pull_batch_size,
        )

    def changed_fields(self, other: "QueueSettings") -> dict[str, tuple[object, object]]:
        """``field -> (value here, value in other)`` for each field that differs."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }


@dataclass(frozen=True)
class QueueStats:
    """Read-only figures for ``cfq-shim inspect``."""

    queue: str
    #: Messages waiting to be delivered now.
    ready: int
    #: Messages waiting for their delay to pass.
    delayed: int
    #: Messages leased and not yet settled.
    in_flight: int
    #: Messages in this queue's dead-letter queue (0 when it has none).
    dead_letters: int
    #: Bytes held by this queue's messages, counted as the backlog limit counts them (0 where unknown).
    backlog_bytes: int = 0


class TransportError(OperationalError):
    """Base of every error a transport raises. ``code`` is Cloudflare's error code where one exists.

    It is an :class:`~cfq_shim.exceptions.OperationalError` (kombu's class, which ``celery2cfq rewrite``
    maps ``kombu.exceptions.OperationalError`` to), so a migrated ``except OperationalError:`` around
    ``.delay()`` still catches a broker that is unreachable, refuses the credentials, lacks the queue or
    is overloaded."""

    code: int | None = None

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class QueueNotFound(TransportError):
    code = 10104


class AuthenticationFailed(TransportError):
    code = 10106


class InvalidDelay(TransportError):
    code = 10202


class InvalidArgument(TransportError):
    code = 10203


class MessageTooLarge(TransportError):
    code = 10204


class BatchTooLarge(TransportError):
    code = 10205


class TooManyMessages(TransportError):
    code = 10206


class Overloaded(TransportError):
    code = 10250


class BacklogFull(TransportError):
    """The queue holds ``Limits.max_backlog_bytes`` already (HTTP 429 on Cloudflare)."""

    code = 10251


class QueuePaused(TransportError):
    """Delivery is paused: pull answers HTTP 409 on Cloudflare."""

    code = 10252


class QueueAlreadyExists(TransportError):
    """Creating a queue whose name is taken (HTTP 409 on Cloudflare; the code is as wrangler reports it)."""

    code = 11009


class UnsupportedBrokerURL(TransportError, ValueError):
    """A broker URL this project cannot use (``redis://``, ``amqp://``, ...): says what to use instead."""


class Transport(abc.ABC):
    """A queue service with Cloudflare Queues' semantics. Implementations are thread-safe."""

    #: URL scheme this transport serves (``memory``, ``sqlite``, ``cloudflare``).
    scheme: str = ""
    #: True where queues are created on first use (embedded, memory: zero configuration). On Cloudflare
    #: queues are created by ``cfq-shim provision``, and a missing queue is an error that says so.
    auto_declare_queues: ClassVar[bool] = False

    # -- capabilities: read by the producer, the worker and ``inspect``; a subclass overrides them ----
    #: False where the service reports one backlog figure only (Cloudflare's metrics): :meth:`stats`
    #: then reports it as ``ready`` and ``inspect`` says so.
    stats_by_state: ClassVar[bool] = True
    #: True where each push is a round trip (HTTP): the app's producer lets concurrent single sends
    #: share bulk pushes (cfq_shim.sending.coalesce).
    coalesce_sends: ClassVar[bool] = False
    #: Pull loops a worker runs per queue (over HTTP each pull is a round trip; an instance may set it
    #: from its URL, as ``cloudflare://...?pullers=N`` does).
    pull_concurrency: int = 1
    #: How ``.delay()`` sends (see :data:`ProducerMode`); an instance may set it from its URL.
    producer_mode: ProducerMode = "durable"

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    @property
    def destination(self) -> str:
        """Where this transport's messages go, without credentials (scheme, account, prefix or file): an
        outbox shared by several apps keys its rows by it."""
        return f"{self.scheme}://"

    @classmethod
    def from_url(cls: type[_T], url: str, *, limits: Limits = DEFAULT_LIMITS) -> _T:
        """The transport a broker URL of this :attr:`scheme` names (:func:`cfq_shim.transport.open_transport`
        picks the class by scheme and calls this). A URL this class cannot use raises
        :class:`UnsupportedBrokerURL` or ``ValueError`` naming the cause, never repeating credentials."""
        raise NotImplementedError(f"{cls.__name__} cannot be opened from a URL")

    # -- queues ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def declare_queue(self, name: str, settings: QueueSettings | None = None) -> None:
        """Create ``name`` if missing (idempotent) and set its consumer settings when given.

        Settings replace the queue's current ones; a named dead-letter queue is declared too.
        Messages already in the queue are kept. Bad settings raise :class:`InvalidArgument` or
        :class:`InvalidDelay` and change nothing."""

    @abc.abstractmethod
    def queue_settings(self, name: str) -> QueueSettings:
        """The consumer settings of ``name``. Raises :class:`QueueNotFound`."""

    @abc.abstractmethod
    def stats(self, name: str) -> QueueStats:
        """Depth, in flight and dead letters of ``name``. Raises :class:`QueueNotFound`.

        A message whose lease has lapsed counts as ready; a retried message waiting for its delay
        counts as delayed. Transports whose service reports one backlog figure only (Cloudflare's
        metrics) say so with ``stats_by_state = False`` and report the backlog as ``ready``."""

    @abc.abstractmethod
    def purge(self, name: str) -> int:
        """Delete every message of ``name`` (leased ones too); return how many were deleted."""

    # -- producing --------------------------------------------------------------------------------
    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        """Send one message. Raises :class:`MessageTooLarge`, :class:`InvalidDelay`, ...; stores nothing then."""
        self.send_batch(queue, [OutgoingMessage(body, delay_seconds)])

    @abc.abstractmethod
    def send_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Send up to ``max_batch_messages`` messages and ``max_batch_bytes`` in one call, all or none.

        Sizes count as :func:`cfq_shim.transport.validation.message_cost` counts them (UTF-8 bytes plus
        Cloudflare's metadata). Raises :class:`TooManyMessages` (10206), :class:`BatchTooLarge` (10205),
        :class:`MessageTooLarge` (10204), :class:`InvalidDelay` (10202), :class:`QueueNotFound` (10104)
        or :class:`BacklogFull` (10251), and then stores nothing. An empty batch sends nothing."""

    # -- consuming --------------------------------------------------------------------------------
    @abc.abstractmethod
    def pull(self, queue: str, *, batch_size: int, visibility_timeout_ms: int) -> list[LeasedMessage]:
        """Lease up to ``batch_size`` visible messages. Answers at once, possibly with none.

        ``batch_size`` is 1 .. ``max_pull_batch_size`` and ``visibility_timeout_ms`` 1 ..
        ``max_visibility_timeout_ms`` (else :class:`InvalidArgument`); a paused queue raises
        :class:`QueuePaused`. No order is promised. There is no call to extend a lease.

        Delivering a message whose attempts have reached ``deliveries_allowed(max_retries)`` instead
        moves it to the queue's dead-letter queue (or deletes it when there is none).
        """

    @abc.abstractmethod
    def ack(
        self,
        queue: str,
        *,
        acks: Sequence[str] = (),
        retries: Sequence[RetryRequest] = (),
    ) -> AckResult:
        """Settle leases in one call: delete the acked messages, make the retried ones visible again
        after their delay. Unknown or stale lease ids give a warning, never an exception.

        A lease that has lapsed but whose message has not been delivered again still settles (a late
        ack is accepted, as on Cloudflare). A retried message that has used every delivery goes to the
        dead-letter queue. A retry delay out of bounds raises :class:`InvalidDelay` and settles nothing."""

    def peek(self, queue: str, *, batch_size: int = 10) -> list[LeasedMessage]:
        """Look at up to ``batch_size`` messages without leasing them (lease_id is empty).

        Attempts are not counted and leases are not changed; the messages stay deliverable."""
        raise NotImplementedError(f"{type(self).__name__} cannot peek")

    def close(self) -> None:
        """Release connections. The transport is unusable afterwards."""
