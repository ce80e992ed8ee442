"""The message envelope: what one task call looks like on the queue.

A versioned JSON object sent as text (see docs/envelope.md for every field and an example). Values that
plain JSON cannot carry travel the way kombu's JSON serializer carries them, so Celery code that passes
datetimes, dates, times, UUIDs, Decimals or bytes gets the same objects back::

    {"__type__": "datetime", "__value__": "2026-11-27T22:00:00+00:00"}

:func:`encode` refuses, at send time, anything JSON cannot carry and any body over
``limits.max_body_bytes``, raising :class:`~cfq_shim.exceptions.EncodeError` that names the task and the
cause. :func:`decode` raises :class:`EnvelopeError` with the reason a body cannot be run.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from json.encoder import c_make_encoder as _c_make_encoder, encode_basestring as _encode_text
from typing import Any

from .exceptions import EncodeError
from .limits import DEFAULT_LIMITS, Limits, body_bytes

__all__ = ["ENVELOPE_VERSION", "Envelope", "EnvelopeError", "encode", "encode_call", "decode", "dumps", "loads", "check_body_size"]

ENVELOPE_VERSION = 1


class EnvelopeError(ValueError):
    """A body that is not a valid envelope. The message says why (for the dead-letter record)."""


@dataclass(frozen=True)
class Envelope:
    """One task call. ``args``/``kwargs`` hold decoded Python values."""

    id: str
    task: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    queue: str = "celery"
    #: How many times the task has been retried before this message (Celery's ``request.retries``).
    retries: int = 0
    #: Not before this time (UTC, aware). The producer turns it into a delivery delay.
    eta: datetime | None = None
    #: Not after this time (UTC, aware): the worker skips the task and records it as revoked.
    expires: datetime | None = None
    root_id: str | None = None
    parent_id: str | None = None
    group_id: str | None = None
    #: Custom headers given to ``apply_async(headers=...)``.
    headers: dict = field(default_factory=dict)
    #: Signatures (as dicts) applied with the result on success (``link``) ...
    callbacks: list = field(default_factory=list)
    #: ... and with the task id on failure (``link_error``).
    errbacks: list = field(default_factory=list)
    #: Per-call time limits in seconds (``apply_async(time_limit=, soft_time_limit=)``); None: the task's own.
    time_limit: float | None = None
    soft_time_limit: float | None = None


# -- kombu-compatible JSON ------------------------------------------------------------------------
def _typed(marker: str, value: Any) -> dict:
    return {"__type__": marker, "__value__": value}


def _default(obj: Any) -> Any:
    """The ``default=`` hook of json.dumps: kombu's encodings, in kombu's order."""
    reducer = getattr(obj, "__json__", None)
    if reducer is not None:
        return reducer()
    if isinstance(obj, datetime):
        return _typed("datetime", obj.isoformat())
    if isinstance(obj, date):
        return _typed("date", obj.isoformat())
    if isinstance(obj, time):
        return _typed("time", obj.isoformat())
    if isinstance(obj, Decimal):
        return _typed("decimal", str(obj))
    if isinstance(obj, uuid.UUID):
        return _typed("uuid", {"hex": obj.hex})
    if isinstance(obj, bytes):
        try:
            return _typed("bytes", obj.decode("utf-8"))
        except UnicodeDecodeError:
            return _typed("base64", base64.b64encode(obj).decode("ascii"))
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_DECODERS = {
    "datetime": datetime.fromisoformat,
    "date": lambda v: datetime.fromisoformat(v).date(),
    "time": time.fromisoformat,
    "decimal": Decimal,
    "uuid": lambda v: uuid.UUID(**v),
    "bytes": lambda v: v.encode("utf-8"),
    "base64": lambda v: base64.b64decode(v.encode("ascii")),
}


def _object_hook(obj: dict) -> Any:
    if len(obj) == 2 and "__type__" in obj and "__value__" in obj:
        decoder = _DECODERS.get(obj["__type__"])
        if decoder is None:
            raise EnvelopeError(f"unsupported encoded type {obj['__type__']!r}")
        return decoder(obj["__value__"])
    return obj


_encoder = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> str:
    """JSON text for ``value``, kombu-compatible for the extra types. Raises TypeError/ValueError."""
    return _encoder.encode(value)


def loads(text: str | bytes) -> Any:
    """The inverse of :func:`dumps`. The typed-object hook only runs when the text needs it."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8")
    if '"__type__"' in text:
        return json.loads(text, object_hook=_object_hook)
    return json.loads(text)


# -- envelope <-> text ---------------------------------------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        # Naive datetimes are taken as UTC, as Celery does with enable_utc (the default).
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


def encode(envelope: Envelope, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """The JSON text of ``envelope``. Raises :class:`EncodeError` naming the task and the reason."""
    return encode_call(
        envelope.id, envelope.task, envelope.args, envelope.kwargs, envelope.queue, envelope.retries,
        envelope.eta, envelope.expires, envelope.root_id, envelope.parent_id, envelope.group_id,
        envelope.headers, envelope.callbacks, envelope.errbacks, envelope.time_limit, envelope.soft_time_limit,
        limits=limits,
    )


def encode_call(
    id: str, task: str, args: list, kwargs: dict, queue: str, retries: int, eta: datetime | None,
    expires: datetime | None, root_id: str | None, parent_id: str | None, group_id: str | None, headers: dict,
    callbacks: list, errbacks: list, time_limit: float | None, soft_time_limit: float | None,
    *, limits: Limits = DEFAULT_LIMITS,
) -> str:
    """The JSON text of the envelope with these fields (:class:`Envelope`'s, in its order), without
    building the :class:`Envelope`: what :func:`encode` does, for the sender, which has the fields at hand
    and builds an Envelope only when a publish signal handler wants to see one.

    The text is that of the wire object (``{"v": 1, "id": ..., ...}``) encoded whole, character for
    character; it is written key by key because encoding the object whole spends most of its time on
    the keys, which never change, and on the values that are null, plain text or empty."""
    try:
        # Inline tests for the usual null and text values: a call of _value per field costs more.
        parts = [
            _WIRE_START, _encode_text(id) if type(id) is str else _value(id),
            ',"task":', _encode_text(task) if type(task) is str else _value(task),
            ',"args":', _value(args),
            ',"kwargs":', _value(kwargs),
            ',"queue":', _encode_text(queue) if type(queue) is str else _value(queue),
            ',"retries":', str(retries) if type(retries) is int else _value(retries),
            ',"eta":', "null" if eta is None else _value(_iso(eta)),
            ',"expires":', "null" if expires is None else _value(_iso(expires)),
            ',"root_id":', _encode_text(root_id) if type(root_id) is str else _value(root_id),
            ',"parent_id":', "null" if parent_id is None else _value(parent_id),
            ',"group_id":', "null" if group_id is None else _value(group_id),
            ',"headers":', _value(headers) if headers else "{}" if type(headers) is dict else _value(headers),
            ',"callbacks":', _value(callbacks) if callbacks else "[]" if type(callbacks) is list else _value(callbacks),
            ',"errbacks":', _value(errbacks) if errbacks else "[]" if type(errbacks) is list else _value(errbacks),
        ]
        if time_limit is not None or soft_time_limit is not None:
            parts += (',"time_limit":', _value(time_limit), ',"soft_time_limit":', _value(soft_time_limit))
        parts.append("}")
        body = "".join(parts)
    except (TypeError, ValueError) as exc:
        raise EncodeError(
            f"Cannot send task {task!r} (id {id}): its arguments cannot be encoded as JSON: {exc}"
        ) from exc
    if body_bytes(body) > limits.max_body_bytes:  # the description is only worth writing for the error
        check_body_size(body, limits, what=f"task {task!r} (id {id})")
    return body


_WIRE_START = f'{{"v":{ENVELOPE_VERSION},"id":'


class _ValueEncoder(threading.local):
    """This thread's C JSON encoder, made once: ``JSONEncoder.encode`` builds a new one on every call,
    which costs more than encoding a small value. ``markers`` (the circular-reference check, as
    ``check_circular=True``) is per thread because the encoder fills it while it works."""

    def __init__(self) -> None:
        self.markers: dict = {}
        self.encode = None
        if _c_make_encoder is not None:
            self.encode = _c_make_encoder(self.markers, _default, _encode_text, None, ":", ",", False, False, False)


_value_encoder = _ValueEncoder()


def _value(value: Any) -> str:
    """``dumps(value)``: the same text, with shortcuts for the values most envelope fields hold."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _encode_text(value)
    if not value and (kind is list or kind is dict):
        return "[]" if kind is list else "{}"
    encoder = _value_encoder
    c_encode = encoder.encode
    if c_encode is None:  # an interpreter without the C accelerator
        return _encoder.encode(value)
    try:
        return "".join(c_encode(value, 0))
    except BaseException:
        encoder.markers.clear()  # an error leaves the containers it was inside marked
        raise


def check_body_size(body: str, limits: Limits, *, what: str) -> int:
    """The sender's size check, made once per message before anything is sent: the body's size in bytes,
    or :class:`EncodeError` naming ``what`` ("task 'proj.add' (id ...)", "a message to queue 'q'")
    when it is over ``limits.max_body_bytes`` (a queue message less Cloudflare's metadata)."""
    size = body_bytes(body)
    if size > limits.max_body_bytes:
        raise EncodeError(
            f"Cannot send {what}: its message is {size} bytes, over the {limits.max_body_bytes}-byte "
            "limit of a queue message. Pass a reference (a key or URL) to large data instead of the "
            "data itself."
        )
    return size


def _parse_moment(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise EnvelopeError(f"field {name!r} must be an ISO 8601 string or null")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise EnvelopeError(f"field {name!r} is not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _optional_str(wire: dict, name: str) -> str | None:
    value = wire.get(name)
    if value is not None and not isinstance(value, str):
        raise EnvelopeError(f"field {name!r} must be a string or null")
    return value


def _number_or_none(wire: dict, name: str) -> float | None:
    value = wire.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise EnvelopeError(f"field {name!r} must be a number or null")
    return value


def _checked_envelope(**fields: Any) -> Envelope:
    """An Envelope of fields :func:`decode` has checked, every one given. The frozen dataclass's
    ``__init__`` sets each of the 16 fields through ``object.__setattr__``: three times the cost of
    filling the instance's dict at once, and a worker decodes every message it runs."""
    envelope = object.__new__(Envelope)
    envelope.__dict__.update(fields)
    return envelope


def decode(body: str | bytes) -> Envelope:
    """The envelope in ``body``. Raises :class:`EnvelopeError` saying why it cannot be run."""
    try:
        wire = loads(body)
    except EnvelopeError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"body is not JSON: {exc}") from exc
    if not isinstance(wire, dict):
        raise EnvelopeError(f"body is a JSON {type(wire).__name__}, not an envelope object")
    version = wire.get("v")
    if version != ENVELOPE_VERSION:
        raise EnvelopeError(
            f"envelope version {version!r} is not supported (this cfq_shim reads version {ENVELOPE_VERSION})"
        )
    task_id, task = wire.get("id"), wire.get("task")
    if not isinstance(task_id, str) or not task_id:
        raise EnvelopeError("field 'id' is missing or not a string")
    if not isinstance(task, str) or not task:
        raise EnvelopeError("field 'task' is missing or not a string")
    args, kwargs = wire.get("args", []), wire.get("kwargs", {})
    if not isinstance(args, list):
        raise EnvelopeError("field 'args' must be a list")
    if not isinstance(kwargs, dict):
        raise EnvelopeError("field 'kwargs' must be an object")
    queue = wire.get("queue")
    if not isinstance(queue, str) or not queue:
        raise EnvelopeError("field 'queue' is missing or not a string")
    retries = wire.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise EnvelopeError("field 'retries' must be a non-negative integer")
    headers = wire.get("headers") or {}
    callbacks = wire.get("callbacks") or []
    errbacks = wire.get("errbacks") or []
    if not isinstance(headers, dict):
        raise EnvelopeError("field 'headers' must be an object")
    if not isinstance(callbacks, list) or not isinstance(errbacks, list):
        raise EnvelopeError("fields 'callbacks' and 'errbacks' must be lists")
    return _checked_envelope(
        id=task_id,
        task=task,
        args=args,
        kwargs=kwargs,
        queue=queue,
        retries=retries,
        eta=_parse_moment(wire.get("eta"), "eta"),
        expires=_parse_moment(wire.get("expires"), "expires"),
        root_id=_optional_str(wire, "root_id"),
        parent_id=_optional_str(wire, "parent_id"),
        group_id=_optional_str(wire, "group_id"),
        headers=headers,
        callbacks=callbacks,
        errbacks=errbacks,
        time_limit=_number_or_none(wire, "time_limit"),
        soft_time_limit=_number_or_none(wire, "soft_time_limit"),
    )
