"""The embedded store: Cloudflare Queues' semantics and limits on SQLite (stdlib ``sqlite3``).

:class:`EmbeddedStore` is addressed by queue id, like Cloudflare's REST API, so the local REST
stand-in can serve it; :class:`StoreTransport` puts queue names on top for ``sqlite://`` and
``memory://``. See docs/transports.md.
"""

from __future__ import annotations

from .records import PullResult, QueueConfig, QueueRecord, StoredMessage, StoreStats
from .store import EmbeddedStore, OutgoingItem, new_id, system_clock_ms
from .transport import StoreTransport

__all__ = [
    "EmbeddedStore",
    "OutgoingItem",
    "PullResult",
    "QueueConfig",
    "QueueRecord",
    "StoreStats",
    "StoreTransport",
    "StoredMessage",
    "new_id",
    "system_clock_ms",
]
