"""What each dashboard page shows, read from a Runtime. Plain data: no web framework here.

Sources: queue figures through the transport (``stats``); workers, their active tasks and their recent
tasks from the control heartbeats (control/heartbeat.py); task states from the result backend when the
app has one; dead letters peeked (never leased) from the ``-dlq`` queues. Nothing here ever returns a
credential: the broker is shown by scheme, the store by its ``describe()``.
"""

from __future__ import annotations

import time
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..backend import Backend
from ..control.heartbeat import all_workers
from ..control.store import ControlUnavailable, control_store
from ..deadletters.access import DeadLetterQueue
from ..deadletters.entries import DeadLetterEntry
from ..results import ResultBackend
from ..runtime import Runtime
from ..transport.base import QueueNotFound, TransportError
from .chart import Minute, minutes_of

__all__ = ["Dashboard", "QueueRow", "WorkerRow", "TaskRow", "TaskPage"]

#: Dead letters shown per queue (one peek).
DEAD_LETTERS_SHOWN = 100


@dataclass(frozen=True)
class QueueRow:
    name: str
    exists: bool
    ready: int = 0
    delayed: int = 0
    in_flight: int = 0
    dead_letters: int = 0


@dataclass(frozen=True)
class WorkerRow:
    name: str
    alive: bool
    last_seen_seconds: float
    pool: str
    concurrency: int
    active: int
    reserved: int
    processed: int
    failed: int
    load: list[float]
    queues: list[str]
    pid: int | None


@dataclass(frozen=True)
class TaskRow:
    id: str
    name: str
    state: str
    worker: str
    when: float | None
    runtime: float | None = None


@dataclass
class TaskPage:
    id: str
    state: str
    name: str | None = None
    args: Any = None
    kwargs: Any = None
    result: Any = None
    traceback: str | None = None
    retries: int | None = None
    worker: str | None = None
    #: (wall-clock seconds, what happened), oldest first.
    timeline: list[tuple[float, str]] = field(default_factory=list)
    dead_letter: DeadLetterEntry | None = None
    known: bool = False


class Dashboard:
    """The pages' data for one app."""

    def __init__(self, app: Runtime) -> None:
        self.app = app

    # -- where things are ---------------------------------------------------------------------------
    def broker(self) -> str:
        return urlsplit(self.app.broker_url).scheme + "://"

    def store(self) -> ResultBackend | None:
        try:
            return control_store(self.app)
        except ControlUnavailable:
            return None

    def store_description(self) -> str:
        store = self.store()
        return store.describe() if store is not None else "none (set result_backend for workers and tasks)"

    # -- queues ------------------------------------------------------------------------------------
    def queues(self) -> list[QueueRow]:
        rows = []
        transport = self.app.transport
        for name in self.app.queues():
            try:
                stats = transport.stats(name)
            except QueueNotFound:
                rows.append(QueueRow(name, exists=False))
                continue
            rows.append(QueueRow(name, True, stats.ready, stats.delayed, stats.in_flight, stats.dead_letters))
        return rows

    def stats_by_state(self) -> bool:
        return bool(self.app.transport.stats_by_state)

    # -- workers -----------------------------------------------------------------------------------
    def _snapshots(self) -> dict[str, dict[str, Any]]:
        store = self.store()
        return all_workers(store) if store is not None else {}

    def workers(self) -> list[WorkerRow]:
        now = time.time()
        rows = []
        for name, info in self._snapshots().items():
            pool = info.get("pool") or {}
            rows.append(WorkerRow(
                name=name, alive=bool(info.get("alive")), last_seen_seconds=max(0.0, now - float(info["last_seen"])),
                pool=str(pool.get("implementation", "")).rpartition(":")[2], concurrency=int(pool.get("max-concurrency") or 0),
                active=len(info.get("active") or ()), reserved=len(info.get("reserved") or ()),
                processed=int(info.get("processed") or 0), failed=int(info.get("failed") or 0),
                load=[round(float(x), 2) for x in info.get("loadavg") or ()], queues=list(info.get("queues") or ()),
                pid=info.get("pid"),
            ))
        return rows

    # -- tasks -------------------------------------------------------------------------------------
    def recent_tasks(self, query: str = "", limit: int = 200) -> list[TaskRow]:
        rows: list[TaskRow] = []
        for name, info in self._snapshots().items():
            for request in info.get("active") or ():
                rows.append(TaskRow(request["id"], request["name"], "STARTED", name, request.get("time_start")))
            for request in info.get("reserved") or ():
                rows.append(TaskRow(request["id"], request["name"], "RECEIVED", name, None))
            for done in info.get("recent") or ():
                rows.append(TaskRow(done["id"], done["name"], done["state"], name, done.get("finished_at"),
                                    done.get("runtime")))
        if query:
            needle = query.lower()
            rows = [r for r in rows if needle in r.id.lower() or needle in r.name.lower()]
        rows.sort(key=lambda r: r.when if r.when is not None else float("inf"), reverse=True)
        return rows[:limit]

    def task(self, task_id: str) -> TaskPage:
        page = TaskPage(id=task_id, state="PENDING")
        meta = self._meta(task_id)
        if meta is not None:
            page.known = True
            page.state = str(meta.get("status") or "PENDING")
            page.name = meta.get("name")
            page.args, page.kwargs = meta.get("args"), meta.get("kwargs")
            page.result = meta.get("result")
            page.traceback = meta.get("traceback")
            page.retries = meta.get("retries")
            page.worker = meta.get("worker")
            done = _epoch(meta.get("date_done"))
            if done is not None:
                page.timeline.append((done, f"{page.state} (result backend)"))
        for name, info in self._snapshots().items():
            for key, what in (("active", "started"), ("reserved", "received")):
                for request in info.get(key) or ():
                    if request.get("id") == task_id:
                        page.known = True
                        page.name = page.name or request.get("name")
                        if page.args is None:
                            page.args, page.kwargs = request.get("args"), request.get("kwargs")
                        page.worker = name
                        if meta is None:
                            page.state = "STARTED" if key == "active" else "RECEIVED"
                        page.timeline.append((request.get("time_start") or time.time(), f"{what} on {name}"))
            for done in info.get("recent") or ():
                if done.get("id") == task_id:
                    page.known = True
                    page.name = page.name or done.get("name")
                    page.retries = page.retries if page.retries is not None else done.get("retries")
                    if page.args is None:
                        page.args, page.kwargs = done.get("args"), done.get("kwargs")
                    if meta is None:
                        page.state = done["state"]
                    runtime = done.get("runtime")
                    finished = float(done["finished_at"])
                    if runtime is not None:
                        page.timeline.append((finished - float(runtime), f"started on {name}"))
                    page.timeline.append((finished, f"{done['state']} on {name}"))
        letter = self._dead_letter(task_id)
        if letter is not None:
            page.known = True
            page.dead_letter = letter
            wire = letter.original_wire() or {}
            page.name = page.name or letter.task
            if page.args is None:
                page.args, page.kwargs = wire.get("args"), wire.get("kwargs")
            page.traceback = page.traceback or letter.record.traceback
            if page.retries is None:
                page.retries = wire.get("retries")
            moment = letter.dead_lettered_at
            if moment is not None:
                page.timeline.append((moment.timestamp(), f"dead-lettered ({letter.record.reason}) after "
                                                          f"{letter.record.attempts} deliveries"))
            if meta is None:
                page.state = "FAILURE"
        page.timeline.sort()
        return page

    def _meta(self, task_id: str) -> dict[str, Any] | None:
        backend = self.app.backend
        if not isinstance(backend, Backend):
            return None
        return backend.store.get_meta(task_id)

    def _dead_letter(self, task_id: str) -> DeadLetterEntry | None:
        for entries in self.dead_letters().values():
            for entry in entries:
                if task_id in (entry.task_id, entry.message_id):
                    return entry
        return None

    # -- dead letters ------------------------------------------------------------------------------
    def dead_letter_queue(self, queue: str) -> DeadLetterQueue:
        if queue not in self.app.queues():
            raise KeyError(queue)
        return DeadLetterQueue(self.app.transport, queue)

    def dead_letters(self) -> dict[str, list[DeadLetterEntry]]:
        """Up to :data:`DEAD_LETTERS_SHOWN` dead letters per app queue, peeked (nothing is leased)."""
        found: dict[str, list[DeadLetterEntry]] = {}
        for queue in self.app.queues():
            dlq = DeadLetterQueue(self.app.transport, queue)
            try:
                found[queue] = dlq.peek(DEAD_LETTERS_SHOWN)
            except (QueueNotFound, TransportError):
                found[queue] = []
        return found

    # -- throughput --------------------------------------------------------------------------------
    def throughput(self) -> list[Minute]:
        return minutes_of(info.get("per_minute") or {} for info in self._snapshots().values())


def _epoch(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None
