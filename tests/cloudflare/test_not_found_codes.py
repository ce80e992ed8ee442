"""A 404 is "queue not found" only when Cloudflare says so (code 10104). Any other 404, such as 7003 ("no
route": a wrong base URL, an API path a proxy does not forward), is an error: never "the queue does not
exist yet" followed by a silent success in ``inspect``, ``purge`` or ``declare_queue``.

A small proxy in front of the stand-in forwards the queue list and answers every per-queue call with
Cloudflare's 7003 body, as a misrouted API would."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
from stand_in_support import ACCOUNT, SECRET_TOKEN

from cfq_shim.transport.base import QueueNotFound, TransportError
from cfq_shim.transport.cloudflare import CloudflareTransport

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
NO_ROUTE = {"success": False, "errors": [{"code": 7003, "message": "No route for that URI"}], "messages": [],
            "result": None}


@pytest.fixture
def misrouting_proxy(stand_in) -> Iterator[str]:
    upstream = stand_in.base_url[: -len(_path_of(stand_in.base_url))]  # scheme://host:port

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self.command == "GET" and self.path.split("?")[0].endswith(f"/accounts/{ACCOUNT}/queues"):
                request = urllib.request.Request(upstream + self.path, data=body, method=self.command,
                                                 headers={"Authorization": self.headers.get("Authorization", "")})
                with DIRECT.open(request, timeout=10) as response:  # loopback: never through a proxy
                    status, payload = response.status, response.read()
            else:
                status, payload = 404, json.dumps(NO_ROUTE).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{_path_of(stand_in.base_url)}"
    finally:
        server.shutdown()
        server.server_close()


def _path_of(url: str) -> str:
    """``/client/v4`` of ``http://127.0.0.1:PORT/client/v4``."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_a_404_that_is_not_queue_not_found_is_an_error(stand_in, misrouting_proxy):
    # Given a queue that exists, reached through an API that does not route its per-queue calls
    direct = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=stand_in.base_url, max_retries=0)
    direct.declare_queue("celery")
    direct.close()
    transport = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=misrouting_proxy,
                                    max_retries=0)
    try:
        # When a per-queue call answers 404/7003, Then it is a transport error naming the code, not QueueNotFound
        for call in (lambda: transport.stats("celery"), lambda: transport.purge("celery"),
                     lambda: transport.send("celery", "{}")):
            with pytest.raises(TransportError) as raised:
                call()
            assert not isinstance(raised.value, QueueNotFound), raised.value
            assert "HTTP 404" in str(raised.value) and "No route for that URI" in str(raised.value)
            assert SECRET_TOKEN not in str(raised.value)
    finally:
        transport.close()


def test_queue_not_found_still_says_to_provision_the_queue(stand_in):
    transport = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=stand_in.base_url, max_retries=0)
    try:
        with pytest.raises(QueueNotFound) as raised:
            transport.send("lopri", "{}")
        assert "provision -Q lopri" in str(raised.value)
    finally:
        transport.close()

