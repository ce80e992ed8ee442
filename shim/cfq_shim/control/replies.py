"""Worker snapshots (heartbeats) turned into the replies Celery's ``inspect()`` gives, shape for shape.

Each function takes one live worker's snapshot and returns that worker's part of the reply; the
client assembles ``{"celery@host": part, ...}``. The shapes were measured against Celery 5.7
(tests/shim/fidelity/test_control_fidelity.py compares them).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

__all__ = ["REPLIES", "queue_as_dict"]

Snapshot = Mapping[str, Any]


def queue_as_dict(name: str) -> dict[str, Any]:
    """A queue the way kombu's ``Queue.as_dict(recurse=True)`` shows it (``active_queues()``)."""
    return {
        "name": name,
        "exchange": {"name": name, "type": "direct", "arguments": None, "durable": True, "passive": False,
                     "auto_delete": False, "delivery_mode": None, "no_declare": False},
        "routing_key": name, "queue_arguments": None, "binding_arguments": None, "consumer_arguments": None,
        "durable": True, "exclusive": False, "auto_delete": False, "no_ack": False, "alias": None,
        "bindings": [], "no_declare": None, "expires": None, "message_ttl": None, "max_length": None,
        "max_length_bytes": None, "max_priority": None,
    }


def _pool(info: Snapshot) -> dict[str, Any]:
    pool = dict(info.get("pool") or {})
    processes = pool.pop("processes", [])
    if pool.get("implementation", "").endswith(":prefork"):
        pool["processes"] = processes
        pool["max-tasks-per-child"] = "N/A"
    else:
        pool["threads"] = len(info.get("active") or ())
    return pool


def _broker(info: Snapshot) -> dict[str, Any]:
    # Celery's keys, without anything that could carry a credential (cfq_shim reads tokens from the
    # environment and never reports them).
    transport = (info.get("broker") or {}).get("transport")
    return {"hostname": None, "userid": None, "virtual_host": None, "port": None, "insist": False, "ssl": False,
            "transport": transport, "connect_timeout": None, "transport_options": {}, "login_method": None,
            "uri_prefix": None, "heartbeat": 0, "failover_strategy": None, "alternates": [],
            "credential_provider": None}


def stats(info: Snapshot) -> dict[str, Any]:
    return {
        "total": dict(info.get("total") or {}),
        "pid": info.get("pid"),
        "clock": str(info.get("clock", "0")),
        "uptime": int(time.time() - float(info.get("started_at") or time.time())),
        "pool": _pool(info),
        "broker": _broker(info),
        "prefetch_count": int((info.get("pool") or {}).get("max-concurrency") or 1),
        "rusage": dict(info.get("rusage") or {}),
    }


def scheduled(info: Snapshot) -> list[dict[str, Any]]:
    # A cfq_shim worker never holds ETA tasks: they wait in their queue (delayed) until they are due.
    return []


REPLIES: dict[str, Callable[[Snapshot], Any]] = {
    "ping": lambda info: {"ok": "pong"},
    "active": lambda info: list(info.get("active") or ()),
    "reserved": lambda info: list(info.get("reserved") or ()),
    "scheduled": scheduled,
    "registered": lambda info: list(info.get("registered") or ()),
    "active_queues": lambda info: [queue_as_dict(name) for name in info.get("queues") or ()],
    "stats": stats,
}
