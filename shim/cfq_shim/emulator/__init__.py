"""``cfq-shim emulator``: a local stand-in for Cloudflare's Queues REST API, on the embedded store.

Neither Miniflare nor ``wrangler dev`` serves the Queues REST API (pull consumers) locally, so this
package does: the official ``cloudflare`` SDK, pointed at it with ``base_url`` or
``CLOUDFLARE_BASE_URL``, works unchanged. See docs/cloudflare.md.

- :mod:`.api`: the answer envelope and Cloudflare's error codes;
- :mod:`.routes`: the endpoints (paths, request shapes, answer shapes);
- :mod:`.service`: Cloudflare's resources over :class:`cfq_shim.embedded.EmbeddedStore`;
- :mod:`.server`: the HTTP server (:class:`EmulatorServer`, in-process with ``start()``/``stop()``);
- :mod:`.command`: the ``cfq-shim emulator`` click command.
"""

from __future__ import annotations

from ..embedded import EmbeddedStore
from .server import API_PREFIX, STATS_PATH, EmulatorServer
from .service import QueueService

__all__ = ["EmulatorServer", "QueueService", "API_PREFIX", "STATS_PATH", "open_stand_in"]


def open_stand_in(db: str = ":memory:", *, host: str = "127.0.0.1", port: int = 0, latency_ms: int = 0,
                  token: str | None = None) -> EmulatorServer:
    """An (unstarted) stand-in on an embedded store at ``db`` (a file path, or ``:memory:``)."""

    return EmulatorServer(QueueService(EmbeddedStore(db)), host=host, port=port, latency_ms=latency_ms,
                          token=token)
