"""Transports, chosen by broker URL scheme.

- ``memory://``: in-process, for unit tests.
- ``sqlite:///path``: the embedded store, for one machine; also the zero-configuration default.
- ``cloudflare://[ACCOUNT_ID]``: Cloudflare Queues through the official SDK.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from ..limits import DEFAULT_LIMITS, Limits
from .base import Transport, UnsupportedBrokerURL

__all__ = ["open_transport", "Transport", "UnsupportedBrokerURL"]

#: scheme -> "module:class", imported only when used (the SDK is not loaded for sqlite://).
_TRANSPORTS = {
    "memory": "cfq_shim.transport.memory:MemoryTransport",
    "sqlite": "cfq_shim.transport.sqlite:SQLiteTransport",
    "cloudflare": "cfq_shim.transport.cloudflare:CloudflareTransport",
}

#: Brokers Celery knows and this project replaces.
_CELERY_BROKERS = {
    "redis", "rediss", "amqp", "amqps", "pyamqp", "librabbitmq", "sqs", "sentinel", "qpid",
    "kafka", "mongodb", "sqla", "sqlalchemy", "filesystem", "zookeeper", "consul", "etcd",
    "azureservicebus", "azurestoragequeues", "gcpubsub",
}


def _describe(url: str) -> str:
    """The URL without credentials, for error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{'/…' if parts.path not in ('', '/') else ''}"


def open_transport(url: str, *, limits: Limits = DEFAULT_LIMITS) -> Transport:
    """The transport for a broker URL. An unsupported URL raises :class:`UnsupportedBrokerURL`
    saying what to use instead; the message never repeats credentials from the URL."""
    scheme = urlsplit(url).scheme.lower()
    target = _TRANSPORTS.get(scheme)
    if target is None:
        shown = _describe(url)
        if scheme in _CELERY_BROKERS:
            reason = f"{shown!r} is a Celery broker; cfq_shim does not talk to it."
        else:
            reason = f"{shown!r} is not a broker URL cfq_shim knows."
        raise UnsupportedBrokerURL(
            f"{reason} Use 'cloudflare://ACCOUNT_ID' (Cloudflare Queues; the token comes from "
            "CLOUDFLARE_API_TOKEN), 'sqlite:///path/to/queue.db' (the embedded store, one machine) "
            "or 'memory://' (in-process, tests). `celery2cfq rewrite` migrates the setting."
        )
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_url(url, limits=limits)
