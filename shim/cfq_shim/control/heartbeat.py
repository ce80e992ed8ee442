"""Worker heartbeats: what each worker writes to the shared store every few seconds, and who is alive.

A heartbeat is one record per worker name (``celery@host``) holding a JSON snapshot: the worker's pid,
pool, queues and registered tasks, the tasks it is running (``active``) and holds (``reserved``), its
counters, its recent tasks and the number of the last control command it handled. A worker writes it
every ``cfq_worker_heartbeat_seconds`` (2 s by default). A heartbeat older than
:func:`stale_after_seconds` of that interval is a worker gone (killed, or its machine lost): it is left
out of every answer. A worker that shuts down removes its heartbeat at once.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from ..results import ResultBackend

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS", "stale_after_seconds", "live_workers", "all_workers", "is_task_running",
    "heartbeat_seconds",
]

#: How often a worker writes its heartbeat, unless ``cfq_worker_heartbeat_seconds`` says otherwise.
DEFAULT_HEARTBEAT_SECONDS = 2.0
#: A heartbeat is stale after this many intervals (plus one second for slow stores).
_MISSED_BEATS = 3


def heartbeat_seconds(conf: Any) -> float:
    value = conf.get("cfq_worker_heartbeat_seconds") if conf is not None else None
    return float(value) if value else DEFAULT_HEARTBEAT_SECONDS


def stale_after_seconds(interval_seconds: float) -> float:
    """How old a heartbeat written every ``interval_seconds`` may be before its worker counts as gone."""
    return interval_seconds * _MISSED_BEATS + 1.0


def all_workers(store: ResultBackend) -> dict[str, dict[str, Any]]:
    """Every worker's last snapshot (gone ones included, until the store expires them), with ``alive``
    and ``last_seen`` (wall-clock seconds) added."""
    now = time.time()
    workers = {}
    for name, beat in store.heartbeats().items():
        info = dict(beat.info) if isinstance(beat.info, Mapping) else {}
        interval = float(info.get("interval") or DEFAULT_HEARTBEAT_SECONDS)
        info["last_seen"] = beat.timestamp
        info["alive"] = now - beat.timestamp <= stale_after_seconds(interval)
        workers[name] = info
    return dict(sorted(workers.items()))


def live_workers(store: ResultBackend) -> dict[str, dict[str, Any]]:
    """The snapshots of the workers whose heartbeat is fresh, by worker name."""
    return {name: info for name, info in all_workers(store).items() if info["alive"]}


def is_task_running(store: ResultBackend, task_id: str) -> bool:
    """True when a live worker reports ``task_id`` among the tasks it is running.

    For a running guard: a task whose worker died stops counting within the staleness bound."""
    for info in live_workers(store).values():
        if any(request.get("id") == task_id for request in info.get("active") or ()):
            return True
    return False
