"""What the worker holds and has done, for ``inspect()``, heartbeats and the dashboard.

- reserved: jobs accepted from a pulled batch and not started (waiting for a slot or a rate-limit token);
- active: jobs whose task is running;
- totals per task name (Celery's ``stats()['total']``), processed and failed counts, per-minute
  counts over the last hour, and the most recent tasks with how they ended.

Thread-safe: the consumer loop, pool threads and the control agent all touch it.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any, Deque

from .. import states
from ..envelope import dumps
from .jobs import Job

__all__ = ["TaskTracker", "RECENT_TASKS", "MINUTES_KEPT"]

#: Recent tasks kept for the dashboard.
RECENT_TASKS = 200
#: Per-minute counts kept (one hour).
MINUTES_KEPT = 60
#: Longest JSON of a recent task's arguments kept (longer ones are kept as a shortened text).
_ARGS_KEPT_CHARS = 1000


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (datetimes, UUIDs... as kombu's typed markers), for the heartbeat."""
    try:
        return json.loads(dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def _kept(value: Any) -> Any:
    plain = _plain(value)
    text = json.dumps(plain)
    return plain if len(text) <= _ARGS_KEPT_CHARS else text[: _ARGS_KEPT_CHARS - 1] + "…"


class _Unread:
    """A recent task's arguments, kept as they were until :meth:`TaskTracker.recent` reads them."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _wall(monotonic_moment: float) -> float:
    return time.time() - (time.monotonic() - monotonic_moment)


class TaskTracker:
    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self._lock = threading.Lock()
        self._held: dict[int, Job] = {}
        self.totals: collections.Counter[str] = collections.Counter()
        self.processed = 0
        self.failed = 0
        self._minutes: dict[int, list[int]] = {}
        self._recent: Deque[dict[str, Any]] = collections.deque(maxlen=RECENT_TASKS)

    # -- the worker's calls ------------------------------------------------------------------------
    def accepted(self, job: Job) -> None:
        """``job`` was decoded and will run (or wait for a slot)."""
        with self._lock:
            self._held[id(job)] = job

    def released(self, job: Job) -> None:
        """``job``'s message was settled: it is no longer the worker's."""
        with self._lock:
            self._held.pop(id(job), None)

    def finished(self, job: Job, state: str) -> None:
        """``job``'s task ended in ``state`` (SUCCESS, FAILURE, RETRY, REVOKED, ...)."""
        envelope = job.envelope
        if envelope is None:
            return
        now = time.time()
        runtime = time.monotonic() - job.started_at if job.started_at is not None else None
        with self._lock:
            if state != states.REVOKED or job.started_at is not None:
                self.totals[envelope.task] += 1
            self.processed += 1
            failed = state == states.FAILURE
            self.failed += failed
            minute = int(now // 60)
            counts = self._minutes.get(minute)
            if counts is None:
                # A new minute: the time to forget the ones past the hour (not on every task).
                for old in [m for m in self._minutes if m <= minute - MINUTES_KEPT]:
                    del self._minutes[old]
                counts = self._minutes[minute] = [0, 0]
            counts[0] += 1
            counts[1] += failed
            # The arguments are made plain JSON when read (recent()), not here: that costs more than a
            # trivial task, and only the last RECENT_TASKS are ever read.
            self._recent.append({
                "id": envelope.id, "name": envelope.task, "state": state, "finished_at": now,
                "runtime": runtime, "queue": job.message.queue, "retries": envelope.retries,
                "args": _Unread(envelope.args), "kwargs": _Unread(envelope.kwargs),
            })

    # -- what inspect() reads --------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._held.values())

    def request_info(self, job: Job, *, pid: int | None = None, since: float | None = None) -> dict[str, Any]:
        """Celery's ``Request.info()`` for ``job`` (``pid``/``since``: the process running it, and since when)."""
        envelope = job.envelope
        assert envelope is not None
        return {
            "id": envelope.id,
            "name": envelope.task,
            "args": _plain(envelope.args),
            "kwargs": _plain(envelope.kwargs),
            "type": envelope.task,
            "hostname": self.hostname,
            "time_start": _wall(since) if since is not None else None,
            "acknowledged": job.acked_early,
            "delivery_info": {"exchange": "", "routing_key": job.message.queue, "priority": 0,
                              "redelivered": job.message.attempts > 1},
            "worker_pid": pid,
        }

    def requests(self, running: list[tuple[Job, int, float]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(active, reserved)`` request infos, given the pool's ``(job, pid, since)`` of running jobs."""
        running_ids = {id(job) for job, _, _ in running}
        active = [self.request_info(job, pid=pid, since=since) for job, pid, since in running if job.envelope]
        reserved = [self.request_info(job) for job in self.jobs() if id(job) not in running_ids and job.envelope]
        return active, reserved

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            for entry in self._recent:
                for key in ("args", "kwargs"):
                    value = entry[key]
                    if isinstance(value, _Unread):
                        entry[key] = _kept(value.value)
            return [dict(entry) for entry in self._recent]

    def per_minute(self) -> dict[str, list[int]]:
        """``{minute (epoch seconds // 60): [processed, failed]}`` over the last hour."""
        with self._lock:
            return {str(minute): list(counts) for minute, counts in self._minutes.items()}
