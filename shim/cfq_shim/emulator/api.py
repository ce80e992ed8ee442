"""Cloudflare's v4 API envelope and error codes, as the local stand-in answers them.

Every answer is ``{"success", "errors", "messages", "result"}``; an error carries Cloudflare's numeric
code and the HTTP status Cloudflare uses for it. The codes come from cloudflare-queues.md; the mapping
from a code to its HTTP status lives only here.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "success_body",
    "error_body",
    "status_for_code",
    "QUEUE_NOT_FOUND",
    "UNAUTHORIZED",
    "MALFORMED_ID",
    "BAD_DELAY",
    "BAD_ARGUMENT",
    "MESSAGE_TOO_LARGE",
    "BATCH_TOO_LARGE",
    "TOO_MANY_MESSAGES",
    "BAD_JSON",
    "BAD_JSON_SHAPE",
    "OVERLOADED",
    "STORAGE_FULL",
    "QUEUE_PAUSED",
    "FREE_TIER_LIMIT",
    "QUEUE_EXISTS",
    "CONSUMER_EXISTS",
    "CONSUMER_NOT_FOUND",
    "ROUTE_NOT_FOUND",
    "INTERNAL",
]

QUEUE_NOT_FOUND = 10104
UNAUTHORIZED = 10106
MALFORMED_ID = 10107
BAD_DELAY = 10202
BAD_ARGUMENT = 10203
MESSAGE_TOO_LARGE = 10204
BATCH_TOO_LARGE = 10205
TOO_MANY_MESSAGES = 10206
BAD_JSON = 10207
BAD_JSON_SHAPE = 10208
OVERLOADED = 10250
STORAGE_FULL = 10251
QUEUE_PAUSED = 10252
FREE_TIER_LIMIT = 10253
#: Cloudflare answers a second queue with a taken name with this code.
QUEUE_EXISTS = 11009
#: A queue has at most one http_pull consumer.
CONSUMER_EXISTS = 11010
CONSUMER_NOT_FOUND = 11011
#: The path matches no endpoint (Cloudflare's generic "no route" code).
ROUTE_NOT_FOUND = 7003
INTERNAL = 15000

_STATUS_BY_CODE = {
    QUEUE_NOT_FOUND: 404,
    CONSUMER_NOT_FOUND: 404,
    ROUTE_NOT_FOUND: 404,
    UNAUTHORIZED: 401,
    QUEUE_EXISTS: 409,
    CONSUMER_EXISTS: 409,
    OVERLOADED: 429,
    STORAGE_FULL: 429,
    FREE_TIER_LIMIT: 429,
    QUEUE_PAUSED: 429,
    INTERNAL: 500,
}


def status_for_code(code: int) -> int:
    """The HTTP status Cloudflare pairs with an error code; validation errors are 400.

    A pull from a paused queue is the exception: it answers 409 with code 10252 (the pull route says so).
    """
    return _STATUS_BY_CODE.get(code, 400)


class ApiError(Exception):
    """An error answer: Cloudflare's code, a message, and the HTTP status (derived from the code)."""

    def __init__(self, code: int, message: str, *, status: int | None = None,
                 retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else status_for_code(code)
        self.retry_after_seconds = retry_after_seconds


def success_body(result: Any, *, result_info: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def error_body(error: ApiError) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"code": error.code, "message": error.message}],
        "messages": [],
        "result": None,
    }
