"""From one task call to one message: the envelope, Celery's publish signals, the encoded body.

:meth:`cfq_shim.Celery.send_task` decides the ids, the parent and the queue; this module turns the
call's options into an :class:`~cfq_shim.envelope.Envelope` (the wire format), fires
``before_task_publish``/``after_task_publish`` with Celery's arguments, and hands the encoded body to
a producer. The size of the body is checked once, by :func:`cfq_shim.envelope.encode_call`, before
anything is sent. Every ``.delay()`` comes through :func:`send_call`: what it costs is what a call
costs (docs/transports.md measures it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from .. import signals
from ..envelope import Envelope, encode, encode_call
from ..limits import Limits
from .producer import Producer

__all__ = ["IGNORED_SEND_OPTIONS", "new_task_id", "send_call", "check_arguments", "result_headers", "publish", "protocol_headers", "warn_ignored_options"]

logger = logging.getLogger("cfq_shim.app")

#: ``apply_async``/``send_task`` options that mean nothing on Cloudflare Queues (accepted, debug-logged).
IGNORED_SEND_OPTIONS = frozenset({
    "priority", "exchange", "routing_key", "exchange_type", "serializer", "compression", "delivery_mode",
    "mandatory", "immediate", "reply_to", "correlation_id", "retry", "retry_policy", "declare", "connection",
    "publisher", "producer", "result_cls", "router", "add_to_parent", "chain", "group_index",
    "route_name", "shadow", "stamped_headers", "replaced_task_nesting", "chord_size",
})


def new_task_id() -> str:
    """A random version-4 UUID as text, exactly what ``str(uuid.uuid4())`` gives, in a third of its time
    (every ``.delay()`` makes one)."""
    text = os.urandom(16).hex()
    # The version nibble is 4; the variant's two top bits are 10, so its nibble is one of 8, 9, a, b.
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def warn_ignored_options(name: str, options: Mapping[str, Any]) -> None:
    """Debug-log the Celery send options that have no effect here (only when debug logging is on)."""
    if options and logger.isEnabledFor(logging.DEBUG):
        ignored = sorted(set(options) & IGNORED_SEND_OPTIONS)
        if ignored:
            logger.debug("send_task(%s): options %s have no effect on Cloudflare Queues", name, ignored)


def check_arguments(name: str, args: Any, kwargs: Any) -> None:
    """``TypeError`` naming the task when ``args`` is not a list/tuple or ``kwargs`` not a mapping."""
    if args is not None and not isinstance(args, (list, tuple)):
        raise TypeError(f"task args must be a list or tuple (task {name!r} got {type(args).__name__})")
    if kwargs is not None and type(kwargs) is not dict and not isinstance(kwargs, Mapping):  # dict: the fast common case
        raise TypeError(f"task keyword arguments must be a mapping (task {name!r} got {type(kwargs).__name__})")


def _schedule(
    countdown: float | None, eta: datetime | str | None, expires: float | datetime | str | None,
) -> tuple[datetime | None, datetime | None, float]:
    """``(eta, expires, delay)``: aware UTC times and the delay in seconds. ``countdown`` wins over
    ``eta``; a numeric ``expires`` counts from now. Naive datetimes and ISO strings are taken as UTC."""
    delay = 0.0
    now = None
    if countdown:
        now = datetime.now(timezone.utc)
        eta = now + timedelta(seconds=countdown)
        delay = float(countdown)
    elif eta is not None:
        now = datetime.now(timezone.utc)
        eta = _as_aware(eta)
        delay = (eta - now).total_seconds()
    if expires is not None:
        if isinstance(expires, (int, float)):
            expires = (now or datetime.now(timezone.utc)) + timedelta(seconds=expires)
        else:
            expires = _as_aware(expires)
    return eta, expires, delay  # type: ignore[return-value]


def send_call(
    producer: Producer,
    name: str,
    args: Iterable | None,
    kwargs: Mapping | None,
    *,
    task_id: str,
    queue: str,
    root_id: str,
    parent_id: str | None,
    countdown: float | None = None,
    eta: datetime | str | None = None,
    expires: float | datetime | str | None = None,
    link: Any = None,
    link_error: Any = None,
    group_id: str | None = None,
    retries: int = 0,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    headers: Mapping | None = None,
    limits: Limits,
    held: list[tuple[str, str, int]] | None = None,
) -> None:
    """Send one call: its envelope, encoded (the one size check), to ``queue`` with its delay.

    ``countdown`` wins over ``eta``; a numeric ``expires`` counts from now. Naive datetimes and ISO
    strings are taken as UTC; the delay is whole seconds, rounded up. ``held``: see :func:`publish`.
    Call :func:`check_arguments` first.

    With publish signal handlers connected, the :class:`Envelope` is built and :func:`publish` shows it
    to them. Without (the usual case) nobody looks at it, so the body is encoded straight from the
    fields (:func:`cfq_shim.envelope.encode_call`, the same text)."""
    delay = 0.0
    if countdown or eta is not None or expires is not None:
        eta, expires, delay = _schedule(countdown, eta, expires)
    delay_seconds = _ceil_seconds(delay) if delay else 0
    args = list(args) if args else []
    kwargs = dict(kwargs) if kwargs else {}
    headers = dict(headers) if headers else {}
    retries = retries or 0
    if signals.before_task_publish.receivers or signals.after_task_publish.receivers:
        envelope = Envelope(
            id=task_id, task=name, args=args, kwargs=kwargs, queue=queue, retries=retries,
            eta=eta, expires=expires, root_id=root_id, parent_id=parent_id, group_id=group_id,  # type: ignore[arg-type]
            headers=headers, callbacks=_signatures(link), errbacks=_signatures(link_error),
            time_limit=time_limit, soft_time_limit=soft_time_limit,
        )
        publish(producer, envelope, delay_seconds, limits=limits, held=held)
        return
    body = encode_call(
        task_id, name, args, kwargs, queue, retries, eta, expires, root_id, parent_id, group_id,  # type: ignore[arg-type]
        headers, _signatures(link), _signatures(link_error), time_limit, soft_time_limit, limits=limits,
    )
    if held is not None:
        held.append((queue, body, delay_seconds))
    else:
        producer.send(queue, body, delay_seconds=delay_seconds)


def result_headers(headers: Mapping | None, options: Mapping[str, Any]) -> Mapping | None:
    """Carry what the worker needs for results in the message headers, which become request
    attributes there, as in Celery's protocol: ``ignore_result``, and a chord header task's ``chord``
    (the body) and ``chord_size``."""
    chord = options.get("chord")
    if not chord and not options.get("ignore_result"):
        return headers
    carried = dict(headers or {})
    if options.get("ignore_result"):
        carried["ignore_result"] = True
    if chord:
        carried["chord"] = dict(chord)
        carried["chord_size"] = options.get("chord_size")
    return carried


def publish(producer: Producer, envelope: Envelope, delay_seconds: int, *, limits: Limits,
            held: list[tuple[str, str, int]] | None = None) -> str:
    """Fire ``before_task_publish``, encode (the one size check: :class:`~cfq_shim.exceptions.EncodeError`
    before anything is sent), send, fire ``after_task_publish``. Returns the body sent.

    ``held``: a list that collects ``(queue, body, delay_seconds)`` instead of sending
    (``Celery.sending_in_bulk``, which pushes them together with ``producer.send_many``)."""
    if signals.before_task_publish.receivers:
        envelope = _before_publish(envelope)
    body = encode(envelope, limits=limits)
    if held is not None:
        held.append((envelope.queue, body, delay_seconds))
    else:
        producer.send(envelope.queue, body, delay_seconds=delay_seconds)
    if signals.after_task_publish.receivers:
        signals.after_task_publish.send(
            sender=envelope.task, body=body, exchange="", routing_key=envelope.queue,
            headers=protocol_headers(envelope),
        )
    return body


def _before_publish(envelope: Envelope) -> Envelope:
    """Fire ``before_task_publish`` with Celery's arguments; header changes the handlers make are kept."""
    headers = protocol_headers(envelope)
    protocol_keys = set(headers) - set(envelope.headers)
    body = (envelope.args, envelope.kwargs, {"callbacks": envelope.callbacks, "errbacks": envelope.errbacks, "chain": None, "chord": None})
    signals.before_task_publish.send(
        sender=envelope.task, body=body, exchange="", routing_key=envelope.queue, headers=headers,
        properties={"correlation_id": envelope.id}, declare=[], retry_policy=None,
    )
    custom = {key: value for key, value in headers.items() if key not in protocol_keys}
    return replace(envelope, headers=custom) if custom != envelope.headers else envelope


def protocol_headers(envelope: Envelope) -> dict[str, Any]:
    """The message headers Celery's protocol 2 would carry, as the publish signals show them."""
    return {
        **envelope.headers,
        "lang": "py",
        "task": envelope.task,
        "id": envelope.id,
        "eta": envelope.eta.isoformat() if envelope.eta else None,
        "expires": envelope.expires.isoformat() if envelope.expires else None,
        "group": envelope.group_id,
        "retries": envelope.retries,
        "timelimit": [envelope.time_limit, envelope.soft_time_limit],
        "root_id": envelope.root_id,
        "parent_id": envelope.parent_id,
    }


def _ceil_seconds(seconds: float) -> int:
    if seconds <= 0:
        return 0
    whole = int(seconds)
    return whole if whole == seconds else whole + 1


def _as_aware(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _signatures(value: Any) -> list:
    if not value:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    return [dict(item) for item in items]
