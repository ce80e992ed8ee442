"""Cloudflare's REST shape of an ``http_pull`` consumer's settings, written once.

Cloudflare names the fields ``batch_size``, ``max_retries``, ``retry_delay`` (seconds) and
``visibility_timeout_ms`` inside a consumer's ``settings`` object, with ``dead_letter_queue`` beside it.
The cloudflare:// transport (requests through the SDK, and the SDK's answers) and the REST stand-in
(its answers, and the requests it parses) both map through here to :class:`QueueSettings`.
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import QueueSettings

__all__ = ["REST_FIELDS", "settings_body", "settings_from_rest"]

#: REST field -> :class:`QueueSettings` field.
REST_FIELDS: Mapping[str, str] = {
    "batch_size": "batch_size",
    "max_retries": "max_retries",
    "retry_delay": "retry_delay_seconds",
    "visibility_timeout_ms": "visibility_timeout_ms",
}


def settings_body(settings: QueueSettings) -> dict[str, int]:
    """The consumer's ``settings`` object for ``settings``."""
    return {rest: getattr(settings, field) for rest, field in REST_FIELDS.items()}


def _read(source: Any, name: str) -> Any:
    return source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)


def settings_from_rest(source: Any, *, dead_letter_queue: str | None, defaults: QueueSettings) -> QueueSettings:
    """:class:`QueueSettings` from a consumer's ``settings`` (a mapping, or the SDK's object); a field it
    lacks (or None: ``source`` itself) takes its value from ``defaults``."""
    values: dict[str, Any] = {}
    for rest, field in REST_FIELDS.items():
        value = _read(source, rest) if source is not None else None
        values[field] = getattr(defaults, field) if value is None else int(value)
    return QueueSettings(dead_letter_queue=dead_letter_queue, **values)
