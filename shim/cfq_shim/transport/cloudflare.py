"""``cloudflare://[ACCOUNT_ID]``: Cloudflare Queues through the official ``cloudflare`` SDK.

Configuration (docs/cloudflare.md):

- ``CLOUDFLARE_API_TOKEN``: an API token with the account permission *Queues: Edit* (read and
  write). Required. It is handed to the SDK and never written to a message or a log line.
- the account: the URL's host (``cloudflare://0123abcd...``) or ``CLOUDFLARE_ACCOUNT_ID``.
- ``CLOUDFLARE_BASE_URL``: where the API lives (the SDK's default is Cloudflare's); point it at
  ``cfq-shim emulator`` for local development.
- URL query options: ``queue_prefix`` (prepended to every Celery queue name; also
  ``CFQ_SHIM_QUEUE_PREFIX``), ``max_retries`` (SDK retries of 408/409/429/5xx and timeouts, with
  exponential backoff from 0.5 s to 8 s that honours ``retry-after``; default
  :data:`DEFAULT_MAX_RETRIES`), ``timeout_seconds`` (per request), ``pullers`` (pull loops the worker
  runs per queue, :attr:`CloudflareTransport.pull_concurrency`), ``producer`` (``durable``, the
  default, ``buffered``: see cfq_shim/sending/buffered.py, or ``outbox``: cfq_shim/sending/outbox.py).

Queues are never created here on first use: ``cfq-shim provision`` creates them (with their
dead-letter queues and ``http_pull`` consumers). Names map to Cloudflare names through
:mod:`cfq_shim.transport.cloudflare_names` and to queue ids through ``queues.list``, cached.

Bodies go out as ``content_type="text"`` (the JSON envelope as a string), so they come back as the
same string; bodies that other producers sent as ``json`` or ``bytes`` are read too, whether they
arrive as plain JSON or base64.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from typing import Any, Callable, Mapping, Sequence, TypeVar
from urllib.parse import parse_qsl, urlsplit

import cloudflare

from ..credentials import malformed_token
from ..limits import DEFAULT_LIMITS, Limits
from ..naming import dead_letter_queue_name
from . import validation
from .base import (
    PRODUCER_MODES,
    ProducerMode,
    AckResult,
    AuthenticationFailed,
    BacklogFull,
    BatchTooLarge,
    InvalidArgument,
    InvalidDelay,
    LeasedMessage,
    MessageTooLarge,
    OutgoingMessage,
    Overloaded,
    QueueAlreadyExists,
    QueueNotFound,
    QueuePaused,
    QueueSettings,
    QueueStats,
    RetryRequest,
    TooManyMessages,
    Transport,
    TransportError,
)
from .cloudflare_names import cloudflare_queue_name
from .rest import settings_body, settings_from_rest

__all__ = ["CloudflareTransport", "decode_body", "DEFAULT_MAX_RETRIES", "DEFAULT_PULL_CONCURRENCY"]

TOKEN_VARIABLE = "CLOUDFLARE_API_TOKEN"
ACCOUNT_VARIABLE = "CLOUDFLARE_ACCOUNT_ID"
BASE_URL_VARIABLE = "CLOUDFLARE_BASE_URL"
PREFIX_VARIABLE = "CFQ_SHIM_QUEUE_PREFIX"
PERMISSION_HINT = ("the token needs the account permission 'Queues: Edit' (Queues read and write); "
                   "create one at dash.cloudflare.com > My Profile > API Tokens")

#: SDK retries of 408/409/429/5xx and timeouts (the SDK's own default is 2).
DEFAULT_MAX_RETRIES = 5
#: Per-request timeout; a pull or a bulk push answers in well under a second.
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Pull loops a worker runs per queue: with a 50 ms round trip one loop fetches at most ~20 batches
#: a second, so eight keep one process near Cloudflare's 5,000 messages/s per queue.
DEFAULT_PULL_CONCURRENCY = 8

#: Cloudflare error code -> the transport error that carries it.
_ERRORS_BY_CODE: dict[int, type[TransportError]] = {
    cls.code: cls  # type: ignore[misc]
    for cls in (QueueNotFound, AuthenticationFailed, InvalidDelay, InvalidArgument, MessageTooLarge,
                BatchTooLarge, TooManyMessages, Overloaded, BacklogFull, QueuePaused, QueueAlreadyExists)
}

_T = TypeVar("_T")


def provision_command_for(queue: str) -> str:
    """The command that creates ``queue`` (``-Q`` also covers queues that only call sites name)."""
    return f"`cfq-shim -A <your app> provision -Q {queue}`"


def decode_body(body: Any, content_type: str | None) -> str:
    """A pulled body as text, whether it arrived as plain text, JSON or base64.

    ``text`` bodies are returned as they are. ``json`` bodies arrive as JSON text (an object or, when a
    string was published, a JSON string literal, which is unwrapped) or base64 of it. ``bytes`` bodies
    arrive base64-encoded and are decoded as UTF-8.
    """
    if not isinstance(body, str):
        return json.dumps(body, separators=(",", ":"))
    if content_type in (None, "", "text"):
        return body
    if content_type == "json":
        # Plain JSON text or base64 of it: either way a JSON string literal is unwrapped to its text.
        text: str | None = body
        try:
            value = json.loads(body)
        except ValueError:
            text = _from_base64(body)
            if text is None:
                return body
            try:
                value = json.loads(text)
            except ValueError:
                return text
        return value if isinstance(value, str) else text
    decoded = _from_base64(body)
    return decoded if decoded is not None else body


def _from_base64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


class CloudflareTransport(Transport):
    """Cloudflare Queues over the REST API. Thread-safe: the SDK's httpx client pools connections."""

    scheme = "cloudflare"
    auto_declare_queues = False
    #: Cloudflare's metrics give one backlog figure; :meth:`stats` cannot split ready/delayed/in flight.
    stats_by_state = False
    #: Each push is a round trip: the app's producer coalesces concurrent sends (cfq_shim.sending.coalesce).
    coalesce_sends = True

    def __init__(
        self,
        *,
        account_id: str,
        api_token: str,
        base_url: str | None = None,
        queue_prefix: str = "",
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        pull_concurrency: int = DEFAULT_PULL_CONCURRENCY,
        producer_mode: ProducerMode = "durable",
        limits: Limits = DEFAULT_LIMITS,
        verify: bool = True,
    ) -> None:
        super().__init__(limits=limits)
        if producer_mode not in PRODUCER_MODES:
            raise ValueError(f"producer must be one of {', '.join(PRODUCER_MODES)}, got {producer_mode!r}")
        self.producer_mode = producer_mode
        if not api_token:
            raise AuthenticationFailed(f"{TOKEN_VARIABLE} is not set: {PERMISSION_HINT}.")
        malformed = malformed_token(api_token)
        if malformed:
            raise AuthenticationFailed(f"{TOKEN_VARIABLE} {malformed}: {PERMISSION_HINT}.")
        if not account_id:
            raise AuthenticationFailed(
                f"no Cloudflare account: use 'cloudflare://ACCOUNT_ID' or set {ACCOUNT_VARIABLE}."
            )
        self.account_id = account_id
        self.queue_prefix = queue_prefix
        self.pull_concurrency = pull_concurrency
        self._secret = api_token
        self._client = cloudflare.Cloudflare(
            api_token=api_token, base_url=base_url, max_retries=max_retries, timeout=timeout_seconds
        )
        # A pull is never retried by the SDK: a paused queue answers 409, which the SDK would retry
        # with backoff; the worker's pull loop backs off itself and a lost answer only costs a lease.
        self._pull_client = self._client.with_options(max_retries=0)
        self._ids: dict[str, str] = {}
        self._ids_lock = threading.Lock()
        if verify:  # credentials and reachability are checked at start-up, and the name cache filled
            try:
                self._refresh_ids()
            except BaseException:
                self._client.close()
                raise

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, *, limits: Limits = DEFAULT_LIMITS) -> "CloudflareTransport":
        parts = urlsplit(url)
        if parts.scheme != "cloudflare":
            raise ValueError(f"not a cloudflare:// URL: {parts.scheme}://…")
        options = dict(parse_qsl(parts.query))
        account_id = parts.hostname or os.environ.get(ACCOUNT_VARIABLE, "")
        known = {"queue_prefix", "max_retries", "timeout_seconds", "pullers", "producer"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown cloudflare:// option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(
            account_id=account_id,
            api_token=os.environ.get(TOKEN_VARIABLE, ""),
            base_url=os.environ.get(BASE_URL_VARIABLE) or None,
            queue_prefix=options.get("queue_prefix", os.environ.get(PREFIX_VARIABLE, "")),
            max_retries=_int_option(options, "max_retries", DEFAULT_MAX_RETRIES),
            timeout_seconds=_number_option(options, "timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            pull_concurrency=_int_option(options, "pullers", DEFAULT_PULL_CONCURRENCY),
            producer_mode=options.get("producer", "durable"),  # type: ignore[arg-type] # checked in __init__
            limits=limits,
        )

    @property
    def destination(self) -> str:
        return f"cloudflare://{self.account_id}/{self.queue_prefix}"

    # -- names and ids ----------------------------------------------------------------------------------
    def cloudflare_name(self, queue: str) -> str:
        """The Cloudflare queue name that carries Celery queue ``queue`` (prefix included)."""
        return cloudflare_queue_name(queue, prefix=self.queue_prefix, limits=self.limits)

    def _refresh_ids(self) -> None:
        queues = self._call(lambda: list(self._client.queues.list(account_id=self.account_id)))
        with self._ids_lock:
            self._ids = {q.queue_name: q.queue_id for q in queues if q.queue_name and q.queue_id}

    def _queue_id(self, queue: str) -> str:
        name = self.cloudflare_name(queue)
        queue_id = self._ids.get(name)
        if queue_id is None:
            self._refresh_ids()
            queue_id = self._ids.get(name)
        if queue_id is None:
            raise QueueNotFound(
                f"Cloudflare queue {name!r} (for queue {queue!r}) does not exist in account "
                f"{self.account_id}: run {provision_command_for(queue)} to create it."
            )
        return queue_id

    def _forget(self, queue: str) -> None:
        with self._ids_lock:
            self._ids.pop(self.cloudflare_name(queue), None)

    # -- errors -----------------------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text

    def _call(self, request: Callable[[], _T], *, queue: str | None = None) -> _T:
        """Run one SDK call and turn its errors into transport errors, without the token in them."""
        try:
            return request()
        except cloudflare.APIStatusError as exc:
            raise self._translate(exc, queue) from None
        except cloudflare.APIConnectionError as exc:
            host = urlsplit(str(self._client.base_url)).netloc
            raise TransportError(self._redact(f"cannot reach the Cloudflare API at {host}: {exc}")) from None

    def _translate(self, exc: "cloudflare.APIStatusError", queue: str | None) -> TransportError:
        codes = [e.code for e in exc.errors if e.code is not None]
        messages = "; ".join(e.message for e in exc.errors if e.message) or f"HTTP {exc.status_code}"
        code = codes[0] if codes else None
        where = f" (queue {queue!r})" if queue else ""
        if exc.status_code in (401, 403) or code == AuthenticationFailed.code:
            return AuthenticationFailed(self._redact(
                f"Cloudflare rejected the API token from {TOKEN_VARIABLE} for account "
                f"{self.account_id} (HTTP {exc.status_code}: {messages}); {PERMISSION_HINT}."
            ))
        # Only Cloudflare's own "queue not found" code means that: another 404 (7003, no route: a wrong
        # base URL or account path) is an error, never "the queue does not exist yet".
        if code == QueueNotFound.code:
            if queue is not None:
                self._forget(queue)
            hint = f": run {provision_command_for(queue)}" if queue is not None else ""
            return QueueNotFound(self._redact(f"Cloudflare queue{where} was not found{hint} ({messages})."))
        if exc.status_code == 409 and code in (None, QueuePaused.code):
            return QueuePaused(self._redact(f"delivery is paused{where}: {messages}"))
        cls = _ERRORS_BY_CODE.get(code) if code is not None else None
        if cls is None and exc.status_code == 429:
            cls = Overloaded
        text = self._redact(f"Cloudflare answered HTTP {exc.status_code}{where}: {messages}")
        if cls is None:
            return TransportError(text, code=code)
        return cls(text, code=code) if code is not None else cls(text)

    # -- queues -------------------------------------------------------------------------------------------
    def declare_queue(self, name: str, settings: QueueSettings | None = None) -> None:
        """Create the Cloudflare queue for ``name`` if missing, and its ``http_pull`` consumer (which
        Cloudflare needs before anything can be pulled): with ``settings`` the consumer gets them
        (created or updated); without, a missing consumer is created with Cloudflare's defaults and
        an existing one is left alone. ``cfq-shim provision`` uses this."""
        cf_name = self.cloudflare_name(name)
        if cf_name not in self._ids:
            self._refresh_ids()
        if cf_name not in self._ids:
            try:
                created = self._call(lambda: self._client.queues.create(
                    account_id=self.account_id, queue_name=cf_name))
            except QueueAlreadyExists:  # created meanwhile by another process
                self._refresh_ids()
            else:
                if created is not None and created.queue_id:
                    with self._ids_lock:
                        self._ids[cf_name] = created.queue_id
        self._ensure_consumer(name, settings)

    def _consumer_request(self, name: str, settings: QueueSettings) -> dict[str, Any]:
        request: dict[str, Any] = {"type": "http_pull", "settings": settings_body(settings)}
        if settings.dead_letter_queue:
            request["dead_letter_queue"] = self.cloudflare_name(settings.dead_letter_queue)
        return request

    def _http_pull_consumer(self, queue_id: str, name: str) -> Any | None:
        consumers = self._call(lambda: list(self._client.queues.consumers.list(
            queue_id, account_id=self.account_id)), queue=name)
        return next((c for c in consumers if getattr(c, "type", None) == "http_pull"), None)

    def _ensure_consumer(self, name: str, settings: QueueSettings | None) -> None:
        queue_id = self._queue_id(name)
        existing = self._http_pull_consumer(queue_id, name)
        if existing is None:
            request = self._consumer_request(name, settings) if settings else {"type": "http_pull"}
            self._call(lambda: self._client.queues.consumers.create(
                queue_id, account_id=self.account_id, **request), queue=name)
            return
        if settings is None:
            return
        request = self._consumer_request(name, settings)
        if _consumer_differs(existing, request):
            self._call(lambda: self._client.queues.consumers.update(
                existing.consumer_id, account_id=self.account_id, queue_id=queue_id, **request), queue=name)

    def queue_settings(self, name: str) -> QueueSettings:
        queue_id = self._queue_id(name)
        consumer = self._http_pull_consumer(queue_id, name)
        defaults = QueueSettings.defaults(self.limits)
        if consumer is None or consumer.settings is None:
            return defaults
        dead_letter = consumer.dead_letter_queue or None
        if dead_letter is not None and dead_letter == self.cloudflare_name(dead_letter_queue_name(name)):
            dead_letter = dead_letter_queue_name(name)
        return settings_from_rest(consumer.settings, dead_letter_queue=dead_letter, defaults=defaults)

    def _metrics(self, name: str) -> tuple[int, int]:
        queue_id = self._queue_id(name)
        metrics = self._call(lambda: self._client.queues.get_metrics(queue_id, account_id=self.account_id),
                             queue=name)
        if metrics is None:
            return 0, 0
        return int(metrics.backlog_count), int(metrics.backlog_bytes)

    def stats(self, name: str) -> QueueStats:
        """Cloudflare reports one backlog figure (ready, delayed and leased together): it is given as
        ``ready``; ``delayed`` and ``in_flight`` are 0 because the API does not tell them apart."""
        backlog, backlog_bytes = self._metrics(name)
        dead_letters = 0
        dlq = self.queue_settings(name).dead_letter_queue
        if dlq:
            try:
                dead_letters = self._metrics(dlq)[0]
            except QueueNotFound:
                dead_letters = 0
        return QueueStats(queue=name, ready=backlog, delayed=0, in_flight=0, dead_letters=dead_letters,
                          backlog_bytes=backlog_bytes)

    def purge(self, name: str) -> int:
        """Delete every message of ``name``; returns the backlog counted just before (Cloudflare's
        purge reports no count)."""
        backlog, _ = self._metrics(name)
        queue_id = self._queue_id(name)
        self._call(lambda: self._client.queues.purge.start(
            queue_id, account_id=self.account_id, delete_messages_permanently=True), queue=name)
        return backlog

    # -- producing ------------------------------------------------------------------------------------------
    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        validation.check_message(body, self.limits)
        validation.check_delay(delay_seconds, self.limits)
        queue_id = self._queue_id(queue)
        self._call(lambda: self._client.queues.messages.push(
            queue_id, account_id=self.account_id, body=body, content_type="text",
            delay_seconds=delay_seconds), queue=queue)

    def send_batch(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        costs = []
        for message in messages:
            costs.append(validation.check_message(message.body, self.limits))
            validation.check_delay(message.delay_seconds, self.limits)
        validation.check_batch(costs, self.limits)
        queue_id = self._queue_id(queue)
        payload = [{"body": m.body, "content_type": "text", "delay_seconds": m.delay_seconds} for m in messages]
        # Passed as the SDK's extra_body rather than messages=: the SDK's typed-dict transform of
        # messages= walks every message's type annotations, 4-6 ms of CPU per 100-message push, holding
        # the GIL that the threads calling .delay() need (the outbox forwarder pushes from inside the
        # producing process). For this shape (a str body, "text", an int delay) the transform is the
        # identity: tests/cloudflare/test_transport.py checks both send byte-identical JSON.
        self._call(lambda: self._client.queues.messages.bulk_push(
            queue_id, account_id=self.account_id, extra_body={"messages": payload}), queue=queue)

    # -- consuming --------------------------------------------------------------------------------------------
    def pull(self, queue: str, *, batch_size: int, visibility_timeout_ms: int) -> list[LeasedMessage]:
        validation.check_pull_batch_size(batch_size, self.limits)
        validation.check_visibility_timeout(visibility_timeout_ms, self.limits)
        queue_id = self._queue_id(queue)
        result = self._call(lambda: self._pull_client.queues.messages.pull(
            queue_id, account_id=self.account_id, batch_size=batch_size,
            visibility_timeout_ms=visibility_timeout_ms), queue=queue)
        if result is None or not result.messages:
            return []
        return [self._leased(queue, m) for m in result.messages]

    @staticmethod
    def _leased(queue: str, message: Any) -> LeasedMessage:
        metadata = message.metadata if isinstance(message.metadata, Mapping) else {}
        return LeasedMessage(
            id=message.id or "",
            body=decode_body(message.body, metadata.get("CF-Content-Type")),
            attempts=int(message.attempts or 1),
            timestamp_ms=int(message.timestamp_ms or 0),
            lease_id=getattr(message, "lease_id", None) or "",
            queue=queue,
        )

    def ack(self, queue: str, *, acks: Sequence[str] = (), retries: Sequence[RetryRequest] = ()) -> AckResult:
        if not acks and not retries:
            return AckResult(0, 0, {})
        for retry in retries:
            validation.check_delay(retry.delay_seconds, self.limits)
        queue_id = self._queue_id(queue)
        result = self._call(lambda: self._client.queues.messages.ack(
            queue_id, account_id=self.account_id,
            acks=[{"lease_id": lease} for lease in acks],
            retries=[{"lease_id": r.lease_id, "delay_seconds": r.delay_seconds} for r in retries]),
            queue=queue)
        if result is None:
            return AckResult(0, 0, {})
        return AckResult(int(result.ack_count or 0), int(result.retry_count or 0), dict(result.warnings or {}))

    def peek(self, queue: str, *, batch_size: int = 10) -> list[LeasedMessage]:
        validation.check_pull_batch_size(batch_size, self.limits)
        queue_id = self._queue_id(queue)
        result = self._call(lambda: self._client.queues.messages.peek(
            queue_id, account_id=self.account_id, batch_size=batch_size), queue=queue)
        if result is None or not result.messages:
            return []
        return [self._leased(queue, m) for m in result.messages]

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:  # never shows the token
        return f"<CloudflareTransport account={self.account_id} base_url={self._client.base_url}>"


def _int_option(options: Mapping[str, str], name: str, default: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"cloudflare:// option {name} must be an integer, got {raw!r}") from None


def _number_option(options: Mapping[str, str], name: str, default: float) -> float:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"cloudflare:// option {name} must be a number, got {raw!r}") from None


def _consumer_differs(existing: Any, request: Mapping[str, Any]) -> bool:
    have = existing.settings
    want = request["settings"]
    if have is None:
        return True
    for field, value in want.items():
        if getattr(have, field, None) is None or int(getattr(have, field)) != value:
            return True
    return (existing.dead_letter_queue or None) != request.get("dead_letter_queue")
