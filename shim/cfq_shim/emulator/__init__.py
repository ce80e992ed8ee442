"""``cfq-shim emulator``: a local stand-in for Cloudflare's Queues REST API (on the embedded store) and
D1's query endpoint (on SQLite).

Neither Miniflare nor ``wrangler dev`` serves the Queues REST API (pull consumers) locally, so this
package does: the official ``cloudflare`` SDK, pointed at it with ``base_url`` or
``CLOUDFLARE_BASE_URL``, works unchanged. See docs/cloudflare.md.

- :mod:`.api`: the answer envelope and Cloudflare's error codes;
- :mod:`.routes`: the endpoints (paths, request shapes, answer shapes);
- :mod:`.service`: Cloudflare's resources over :class:`cfq_shim.embedded.EmbeddedStore`;
- :mod:`.d1`: D1's query endpoint on SQLite (for the ``d1://`` result backend);
- :mod:`.server`: the HTTP server (:class:`EmulatorServer`, in-process with ``start()``/``stop()``);
- :mod:`.command`: the ``cfq-shim emulator`` click command.
"""

from __future__ import annotations

from ..embedded import EmbeddedStore
from .d1 import D1Service
from .server import API_PREFIX, STATS_PATH, EmulatorServer
from .service import QueueService

__all__ = ["EmulatorServer", "QueueService", "API_PREFIX", "STATS_PATH", "open_stand_in"]


def open_stand_in(db: str = ":memory:", *, host: str = "127.0.0.1", port: int = 0, latency_ms: int = 0,
                  token: str | None = None) -> EmulatorServer:
    """An (unstarted) stand-in on an embedded store at ``db`` (a file path, or ``:memory:``). D1
    databases (the d1:// result backend) live in ``<db>.d1/`` next to a file, else in memory."""

    d1 = D1Service(None if db == ":memory:" else f"{db}.d1")
    return EmulatorServer(QueueService(EmbeddedStore(db)), host=host, port=port, latency_ms=latency_ms,
                          token=token, d1=d1)
