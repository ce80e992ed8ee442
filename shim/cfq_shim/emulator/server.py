"""The local stand-in's HTTP server: Cloudflare's Queues REST API on loopback.

Built on the stdlib (``http.server.ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive): one
thread per connection is plenty for a test or a benchmark, the official SDK keeps its connections
open, and nothing outside the standard library is needed to run it.

The server serves ``/client/v4/accounts/{account_id}/queues...`` (point the SDK at it with
``base_url="http://127.0.0.1:PORT/client/v4"`` or ``CLOUDFLARE_BASE_URL``) and one extra path outside
Cloudflare's tree, ``GET /__stand-in/stats``, which answers how many requests each endpoint served
(the benchmark reads it to count HTTP requests per 1,000 tasks).

Tokens never reach a log line: the request log prints the method, the path and the status only, and
the ``Authorization`` header is compared, never printed.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..transport.base import TransportError
from . import api
from .api import ApiError
from .d1 import D1Service
from .routes import Request, match_route
from .service import QueueService

__all__ = ["EmulatorServer", "API_PREFIX", "STATS_PATH"]

log = logging.getLogger("cfq_shim.emulator")

#: Where Cloudflare's v4 API lives; the SDK's default base URL ends with it.
API_PREFIX = "/client/v4"
#: Request counters of the stand-in itself (not a Cloudflare endpoint).
STATS_PATH = "/__stand-in/stats"
#: Requests larger than this are refused before being read (well above the largest valid batch).
_MAX_REQUEST_BYTES = 8_000_000


class EmulatorServer:
    """Serves :class:`QueueService` over HTTP. ``start()`` runs it in a background thread.

    ``latency_ms`` delays every answer (the thread serving that connection sleeps, so concurrent
    requests overlap as they would against a remote API). ``token``: when set, requests must carry
    ``Authorization: Bearer <token>``; when None, any token is accepted.
    """

    def __init__(
        self,
        service: QueueService,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: int = 0,
        token: str | None = None,
        d1: D1Service | None = None,
    ) -> None:
        self.service = service
        #: D1's query endpoint (the d1:// result backend): in memory unless given a directory.
        self.d1 = d1 if d1 is not None else D1Service()
        self.host = host
        self.requested_port = port
        self.latency_ms = latency_ms
        self._token = token
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._faults: dict[str, list[ApiError]] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------------
    def start(self) -> int:
        """Bind and serve in a daemon thread; return the bound port."""
        self._httpd = self._bind()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cfq-stand-in", daemon=True)
        self._thread.start()
        return self.port

    def serve_forever(self) -> None:
        """Bind and serve in this thread until :meth:`stop` (or KeyboardInterrupt)."""
        self._httpd = self._bind()
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "EmulatorServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the stand-in is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What to give the SDK as ``base_url`` (or export as ``CLOUDFLARE_BASE_URL``)."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    # -- statistics ---------------------------------------------------------------------------------------
    def request_counts(self) -> dict[str, int]:
        """Requests served per endpoint name (``messages.pull``, ...), errors included."""
        with self._counts_lock:
            return dict(self._counts)

    def reset_request_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()

    # -- fault injection (tests) ---------------------------------------------------------------------------
    def fail_next(self, endpoint: str, *, status: int, code: int, count: int = 1,
                  retry_after_seconds: float | None = None) -> None:
        """Answer the next ``count`` requests to ``endpoint`` (``messages.batch``, ...) with an error,
        before touching the store: how tests meet Cloudflare's 429s and 5xx without a real overload."""
        with self._counts_lock:
            self._faults.setdefault(endpoint, []).extend(
                [ApiError(code, "injected failure", status=status, retry_after_seconds=retry_after_seconds)] * count
            )

    def _injected_fault(self, endpoint: str) -> ApiError | None:
        with self._counts_lock:
            pending = self._faults.get(endpoint)
            return pending.pop(0) if pending else None

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self._counts[name] += 1

    # -- request handling ---------------------------------------------------------------------------------
    def _bind(self) -> ThreadingHTTPServer:
        server = self

        class Handler(_RequestHandler):
            stand_in = server

        httpd = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        httpd.daemon_threads = True
        return httpd

    def authorized(self, header: str | None) -> bool:
        if self._token is None:
            return True
        expected = f"Bearer {self._token}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one request: ``(status, JSON body, extra headers)``."""
        parts = urlsplit(raw_path)
        if parts.path == STATS_PATH and method == "GET":
            counts = self.request_counts()
            return 200, {"requests": counts, "total": sum(counts.values())}, {}
        try:
            if not parts.path.startswith(API_PREFIX + "/"):
                raise ApiError(api.ROUTE_NOT_FOUND, f"no route for {method} {parts.path}")
            route, params = match_route(method, parts.path[len(API_PREFIX):])
            self._count(route.name)
            if not self.authorized(headers.get("Authorization")):
                raise ApiError(api.UNAUTHORIZED, "Unauthorized: the API token is missing or not valid "
                                                 "for this stand-in")
            fault = self._injected_fault(route.name)
            if fault is not None:
                raise fault
            request = Request(method, params, dict(parse_qsl(parts.query)), _parse_json(body))
            target = self.d1 if route.name.startswith("d1.") else self.service
            result, result_info = route.handler(target, request)
            return 200, api.success_body(result, result_info=result_info), {}
        except ApiError as error:
            extra = {}
            if error.retry_after_seconds is not None:
                extra["Retry-After"] = str(max(1, round(error.retry_after_seconds)))
            return error.status, api.error_body(error), extra
        except TransportError as error:
            translated = ApiError(error.code or api.INTERNAL, str(error))
            return translated.status, api.error_body(translated), {}
        except Exception:  # a bug in the stand-in: answer 500 as Cloudflare would, and log it
            log.exception("internal error serving %s %s", method, parts.path)
            return 500, api.error_body(ApiError(api.INTERNAL, "internal error")), {}


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(api.BAD_JSON, f"request body is not valid JSON: {exc}") from None


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the body would wait for
    # the client's delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True
    server_version = "cfq-shim-stand-in"
    stand_in: EmulatorServer

    def _serve(self) -> None:
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not (raw_length.isascii() and raw_length.isdigit()):
            # Without a length the body cannot be skipped: answer and close (int() of it raised, and a
            # negative length read until the client hung up).
            status, body, extra = 400, api.error_body(ApiError(
                api.BAD_JSON, f"Content-Length must be a whole number of bytes, got {raw_length[:40]!r}")), {}
            self.close_connection = True
        elif int(raw_length) > _MAX_REQUEST_BYTES:
            status, body, extra = 413, api.error_body(ApiError(api.BATCH_TOO_LARGE, "request too large")), {}
            self.close_connection = True
        else:
            length = int(raw_length)
            raw = self.rfile.read(length) if length else b""
            status, body, extra = self.stand_in.handle(self.command, self.path, self.headers, raw)
        if self.stand_in.latency_ms:
            time.sleep(self.stand_in.latency_ms / 1000)
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        # The stdlib logs the request line only (method, path, protocol): no header, so no token.
        log.debug("%s - %s", self.address_string(), format % args)
