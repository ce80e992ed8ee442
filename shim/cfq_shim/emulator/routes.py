"""The Queues endpoints of Cloudflare's REST API: paths, request bodies and answers.

Paths, field names and answer shapes follow the official SDK (``cloudflare`` 5.x,
``resources/queues/*.py`` and ``types/queues/*.py``). Each handler checks the request's *shape*
(types, required fields, content types) and leaves limits and semantics (sizes, delays, leases,
attempts, dead letters) to the :class:`~cfq_shim.emulator.service.QueueService`, which sits on the
embedded store, so the stand-in and the embedded transport cannot disagree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..transport.rest import REST_FIELDS
from ..transport.validation import CONTENT_TYPES
from . import api
from .api import ApiError
from .d1 import query_database
from .service import QueueService

__all__ = ["Route", "ROUTES", "match_route", "Request"]


@dataclass(frozen=True)
class Request:
    """A parsed request as a handler sees it."""

    method: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any


#: A handler answers ``(result, result_info)``; raising :class:`ApiError` answers an error.
Handler = Callable[[QueueService, Request], "tuple[Any, dict[str, int] | None]"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    #: Short name counted in the stand-in's request statistics (``push``, ``pull``, ...).
    name: str


# -- request-shape helpers --------------------------------------------------------------------------

def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(api.BAD_JSON_SHAPE, "request body must be a JSON object")
    return body


def _number(value: Any, field: str, *, code: int = api.BAD_ARGUMENT) -> int:
    """An integral JSON number (the SDK sends floats such as ``30.0``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ApiError(code, f"{field} must be a whole number, got {value!r}")
    return int(value)


def _optional_number(body: Mapping[str, Any], field: str, default: int | None, *,
                     code: int = api.BAD_ARGUMENT) -> int | None:
    if field not in body or body[field] is None:
        return default
    return _number(body[field], field, code=code)


def _outgoing(message: Any, default_delay: int) -> tuple[str, str, int]:
    """One pushed message as ``(stored body text, content type, delay seconds)``."""
    message = _object(message)
    content_type = message.get("content_type", "json")
    if not isinstance(content_type, str) or content_type not in CONTENT_TYPES:
        raise ApiError(api.BAD_ARGUMENT, f"content_type must be one of {', '.join(sorted(CONTENT_TYPES))}, "
                                         f"got {content_type!r}")
    if "body" not in message:
        raise ApiError(api.BAD_JSON_SHAPE, "message has no body")
    body = message["body"]
    if content_type == "json":
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    elif not isinstance(body, str):
        raise ApiError(api.BAD_ARGUMENT, f"a {content_type} body must be a string")
    else:
        text = body  # bytes and v8 arrive base64-encoded; the service decodes them
    delay = _optional_number(message, "delay_seconds", default_delay, code=api.BAD_DELAY)
    assert delay is not None
    return text, content_type, delay


# -- handlers -----------------------------------------------------------------------------------------

def list_queues(service: QueueService, request: Request) -> tuple[Any, dict[str, int] | None]:
    queues = [service.queue_object(q) for q in service.list_queues()]
    total = len(queues)
    per_page = _page_number(request.query, "per_page", total or 1)
    page = _page_number(request.query, "page", 1)
    shown = queues[(page - 1) * per_page: page * per_page]
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(shown),
        "total_count": total,
        "total_pages": max(1, -(-total // per_page)),
    }
    return shown, info


def _page_number(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(api.BAD_ARGUMENT, f"{name} must be a positive integer")
    return int(raw)


def create_queue(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    name = body.get("queue_name")
    if not isinstance(name, str) or not name:
        raise ApiError(api.BAD_JSON_SHAPE, "queue_name is required")
    return service.queue_object(service.create_queue(name)), None


def get_queue(service: QueueService, request: Request) -> tuple[Any, None]:
    return service.queue_object(service.get_queue(request.params["queue_id"])), None


def update_queue(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    settings = _object(body.get("settings"))
    name = body.get("queue_name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ApiError(api.BAD_JSON_SHAPE, "queue_name must be a non-empty string")
    paused = settings.get("delivery_paused")
    if paused is not None and not isinstance(paused, bool):
        raise ApiError(api.BAD_ARGUMENT, "delivery_paused must be true or false")
    queue = service.update_queue(
        request.params["queue_id"],
        queue_name=name,
        delivery_paused=paused,
        delivery_delay_seconds=_optional_number(settings, "delivery_delay", None, code=api.BAD_DELAY),
        retention_seconds=_optional_number(settings, "message_retention_period", None),
    )
    return service.queue_object(queue), None


def delete_queue(service: QueueService, request: Request) -> tuple[Any, None]:
    service.delete_queue(request.params["queue_id"])
    return None, None


def queue_metrics(service: QueueService, request: Request) -> tuple[Any, None]:
    return service.metrics(request.params["queue_id"]), None


def start_purge(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    if body.get("delete_messages_permanently") is not True:
        raise ApiError(api.BAD_ARGUMENT, "set delete_messages_permanently to true to purge a queue")
    queue_id = request.params["queue_id"]
    service.purge_queue(queue_id)
    return service.queue_object(service.get_queue(queue_id)), None


def purge_status(service: QueueService, request: Request) -> tuple[Any, None]:
    return service.purge_status(request.params["queue_id"]), None


def _consumer_settings(body: Any) -> dict[str, Any]:
    body = _object(body)
    if body.get("type") != "http_pull":
        raise ApiError(api.BAD_ARGUMENT, "the stand-in serves http_pull consumers only "
                                         "(Worker consumers run inside Cloudflare)")
    settings = _object(body.get("settings"))
    dead_letter_queue = body.get("dead_letter_queue") or None
    if dead_letter_queue is not None and not isinstance(dead_letter_queue, str):
        raise ApiError(api.BAD_JSON_SHAPE, "dead_letter_queue must be a queue name")
    numbers = {rest: _optional_number(settings, rest, None, code=api.BAD_DELAY if rest == "retry_delay" else api.BAD_ARGUMENT)
               for rest in REST_FIELDS}
    return {"dead_letter_queue": dead_letter_queue, "settings": numbers}


def create_consumer(service: QueueService, request: Request) -> tuple[Any, None]:
    return service.create_consumer(request.params["queue_id"], **_consumer_settings(request.body)), None


def update_consumer(service: QueueService, request: Request) -> tuple[Any, None]:
    params = request.params
    return service.update_consumer(params["queue_id"], params["consumer_id"],
                                   **_consumer_settings(request.body)), None


def list_consumers(service: QueueService, request: Request) -> tuple[Any, dict[str, int]]:
    consumers = service.list_consumers(request.params["queue_id"])
    info = {"page": 1, "per_page": max(1, len(consumers)), "count": len(consumers),
            "total_count": len(consumers), "total_pages": 1}
    return consumers, info


def get_consumer(service: QueueService, request: Request) -> tuple[Any, None]:
    return service.get_consumer(request.params["queue_id"], request.params["consumer_id"]), None


def delete_consumer(service: QueueService, request: Request) -> tuple[Any, None]:
    service.delete_consumer(request.params["queue_id"], request.params["consumer_id"])
    return None, None


def push_message(service: QueueService, request: Request) -> tuple[Any, None]:
    message = _outgoing(request.body, 0)
    service.push(request.params["queue_id"], [message])
    return {"metadata": {"metrics": service.metrics(request.params["queue_id"])}}, None


def push_batch(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    default_delay = _optional_number(body, "delay_seconds", 0, code=api.BAD_DELAY)
    assert default_delay is not None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(api.BAD_JSON_SHAPE, "messages must be a non-empty list")
    service.push(request.params["queue_id"], [_outgoing(m, default_delay) for m in messages])
    return {"metadata": {"metrics": service.metrics(request.params["queue_id"])}}, None


def pull_messages(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    queue_id = request.params["queue_id"]
    result = service.pull(
        queue_id,
        batch_size=_optional_number(body, "batch_size", None),
        visibility_timeout_ms=_optional_number(body, "visibility_timeout_ms", None),
    )
    return result, None


def ack_messages(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    acks = body.get("acks") or []
    retries = body.get("retries") or []
    if not isinstance(acks, list) or not isinstance(retries, list):
        raise ApiError(api.BAD_JSON_SHAPE, "acks and retries must be lists")
    ack_ids = [_lease_id(a) for a in acks]
    retry_pairs = [
        # No delay means the consumer's retry_delay, as on Cloudflare.
        (_lease_id(r), _optional_number(_object(r), "delay_seconds", None, code=api.BAD_DELAY))
        for r in retries
    ]
    return service.ack(request.params["queue_id"], acks=ack_ids, retries=retry_pairs), None


def _lease_id(entry: Any) -> str:
    lease_id = _object(entry).get("lease_id")
    if not isinstance(lease_id, str) or not lease_id:
        raise ApiError(api.BAD_JSON_SHAPE, "every ack and retry needs a lease_id")
    return lease_id


def peek_messages(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    return service.peek(request.params["queue_id"], batch_size=_optional_number(body, "batch_size", None)), None


def purge_messages(service: QueueService, request: Request) -> tuple[Any, None]:
    body = _object(request.body)
    refs = body.get("refs")
    if not isinstance(refs, list):
        raise ApiError(api.BAD_JSON_SHAPE, "refs must be a list of {ref}")
    wanted = []
    for entry in refs:
        ref = _object(entry).get("ref")
        if not isinstance(ref, str) or not ref:
            raise ApiError(api.BAD_JSON_SHAPE, "every ref needs a ref")
        wanted.append(ref)
    return service.purge_refs(request.params["queue_id"], wanted), None


def d1_query(service: Any, request: Request) -> tuple[Any, None]:
    """D1's query endpoint; ``service`` is the server's :class:`~cfq_shim.emulator.d1.D1Service` (the
    server hands ``d1.*`` routes that service instead of the queues')."""
    return query_database(service, request.params, request.body), None


# -- the table ------------------------------------------------------------------------------------------

_ACCOUNT = r"/accounts/(?P<account_id>[^/]+)"
_QUEUE = _ACCOUNT + r"/queues/(?P<queue_id>[^/]+)"


def _route(method: str, path: str, handler: Handler, name: str) -> Route:
    return Route(method, re.compile(f"^{path}/?$"), handler, name)


ROUTES: tuple[Route, ...] = (
    _route("GET", _ACCOUNT + "/queues", list_queues, "queues.list"),
    _route("POST", _ACCOUNT + "/queues", create_queue, "queues.create"),
    _route("GET", _QUEUE, get_queue, "queues.get"),
    _route("PUT", _QUEUE, update_queue, "queues.update"),
    _route("PATCH", _QUEUE, update_queue, "queues.edit"),
    _route("DELETE", _QUEUE, delete_queue, "queues.delete"),
    _route("GET", _QUEUE + "/metrics", queue_metrics, "queues.metrics"),
    _route("POST", _QUEUE + "/purge", start_purge, "queues.purge"),
    _route("GET", _QUEUE + "/purge", purge_status, "queues.purge_status"),
    _route("POST", _QUEUE + "/consumers", create_consumer, "consumers.create"),
    _route("GET", _QUEUE + "/consumers", list_consumers, "consumers.list"),
    _route("GET", _QUEUE + "/consumers/(?P<consumer_id>[^/]+)", get_consumer, "consumers.get"),
    _route("PUT", _QUEUE + "/consumers/(?P<consumer_id>[^/]+)", update_consumer, "consumers.update"),
    _route("DELETE", _QUEUE + "/consumers/(?P<consumer_id>[^/]+)", delete_consumer, "consumers.delete"),
    _route("POST", _QUEUE + "/messages", push_message, "messages.push"),
    _route("POST", _QUEUE + "/messages/batch", push_batch, "messages.batch"),
    _route("POST", _QUEUE + "/messages/pull", pull_messages, "messages.pull"),
    _route("POST", _QUEUE + "/messages/ack", ack_messages, "messages.ack"),
    _route("POST", _QUEUE + "/messages/peek", peek_messages, "messages.peek"),
    _route("POST", _QUEUE + "/messages/purge", purge_messages, "messages.purge"),
    _route("POST", _ACCOUNT + "/d1/database/(?P<database_id>[^/]+)/query", d1_query, "d1.query"),
)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method path`` (path relative to ``/client/v4``) and its path parameters."""
    path_matched = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        path_matched = True
        if route.method == method:
            return route, found.groupdict()
    if path_matched:
        raise ApiError(api.ROUTE_NOT_FOUND, f"method {method} is not allowed on {path}", status=405)
    raise ApiError(api.ROUTE_NOT_FOUND, f"no route for {method} {path}")
