"""``memory://``: the embedded store on a private in-memory SQLite database, for unit tests.

One implementation of the semantics, not two: this is the same :class:`EmbeddedStore` as
``sqlite://``, on a connection that lives and dies with the transport (its threads share it under a
lock). Two ``MemoryTransport`` objects never see each other's queues.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from ..embedded import EmbeddedStore, StoreTransport, system_clock_ms
from ..limits import DEFAULT_LIMITS, Limits
from .base import UnsupportedBrokerURL

__all__ = ["MemoryTransport"]


class MemoryTransport(StoreTransport):
    scheme = "memory"

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, now_ms: Callable[[], int] = system_clock_ms) -> None:
        super().__init__(EmbeddedStore(":memory:", limits=limits, now_ms=now_ms), limits=limits)

    @classmethod
    def from_url(cls, url: str = "memory://", *, limits: Limits = DEFAULT_LIMITS) -> "MemoryTransport":
        parts = urlsplit(url)
        if parts.scheme.lower() != "memory" or parts.netloc or parts.path not in ("", "/"):
            raise UnsupportedBrokerURL(f"use exactly 'memory://' for the in-process transport, got {url!r}")
        return cls(limits=limits)

    def __repr__(self) -> str:
        return "MemoryTransport()"
