"""The worker's side of remote control: a thread that writes heartbeats, keeps the revoked ids at hand
and carries out the commands addressed to the worker.

Every interval (``cfq_worker_heartbeat_seconds``, 2 s by default) it:

1. reads the revoked ids from the store into a set the consumer checks before each task runs (a task
   revoked while it waits, ready, delayed or delivered again, is acked and recorded REVOKED);
2. reads the commands numbered after the last one it handled and carries out those for this worker
   (``terminate``, ``shutdown``, ``rate_limit``, ``time_limit``, ``add_consumer``, ``cancel_consumer``);
3. writes the worker's heartbeat (see heartbeat.py), which says what it runs and which command it reached.

The worker is reached only through :class:`ControlledWorker`, so this module does not depend on the
worker's internals.
"""

from __future__ import annotations

import logging
import os
import signal as signal_module
import threading
import time
from typing import Any, Protocol, Sequence

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no getrusage
    resource = None  # type: ignore[assignment]

from ..results import ResultBackend
from ..runtime import Runtime
from .heartbeat import stale_after_seconds
from .mailbox import Command, Mailbox

__all__ = ["ControlAgent", "ControlledWorker", "signal_number", "TASK_INFO_ITEMS"]

logger = logging.getLogger("cfq_shim.control")

#: Task attributes ``registered()`` shows when set, as Celery's ``DEFAULT_TASK_INFO_ITEMS``.
TASK_INFO_ITEMS = ("exchange", "routing_key", "rate_limit")
#: Replies to commands kept in the heartbeat (for clients that wait for them).
_REPLIES_KEPT = 50


class ControlledWorker(Protocol):
    """What the agent needs from a worker."""

    hostname: str
    pool_name: str
    concurrency: int
    queues: list[str]
    app: Runtime
    tracker: Any

    def child_pids(self) -> list[int]: ...
    def requests(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]: ...
    def terminate_task(self, task_id: str, signum: int) -> bool: ...
    def request_shutdown(self) -> None: ...
    def set_rate_limit(self, task_name: str, rate_limit: Any) -> None: ...
    def set_time_limit(self, task_name: str, soft: float | None, hard: float | None) -> None: ...
    def add_queue(self, queue: str) -> bool: ...
    def cancel_queue(self, queue: str) -> bool: ...
    def transport_scheme(self) -> str: ...


def signal_number(name: Any) -> int:
    """``'SIGTERM'``, ``'TERM'``, ``15`` or a :class:`signal.Signals` -> the signal number."""
    if isinstance(name, int):
        return int(name)
    text = str(name).upper()
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(getattr(signal_module, text))
    except AttributeError:
        raise ValueError(f"unknown signal {name!r}") from None


class ControlAgent:
    def __init__(self, worker: ControlledWorker, store: ResultBackend, *, interval_seconds: float) -> None:
        self.worker = worker
        self.store = store
        self.mailbox = Mailbox(store)
        self.interval_seconds = interval_seconds
        self._revoked: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor = 0
        self._waiting: dict[int, float] = {}
        self._replies: dict[str, dict[str, Any]] = {}
        self._beats = 0
        self.started_at = time.time()

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Read the revoked ids and announce the worker before it takes its first task."""
        self._cursor = self.mailbox.last_number()
        self._refresh_revoked()
        self._beat()
        self._thread = threading.Thread(target=self._loop, name="cfq-shim-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, and remove the heartbeat so the worker leaves every answer at once."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.interval_seconds + 5)
        try:
            self.store.forget_heartbeat(self.worker.hostname)
        except Exception as exc:  # noqa: BLE001 - it then goes stale on its own
            logger.warning("Could not remove the heartbeat of %s (%s)", self.worker.hostname, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the store may be away for a while; keep trying
                logger.exception("Remote control: heartbeat or command handling failed; retrying.")

    def tick(self) -> None:
        self._refresh_revoked()
        self._handle_commands()
        self._beat()

    # -- revoked ids ---------------------------------------------------------------------------------
    def _refresh_revoked(self) -> None:
        self._revoked = frozenset(self.store.revoked_ids())

    def is_revoked(self, task_id: str) -> bool:
        return task_id in self._revoked

    def note_revoked(self, task_ids: Sequence[str]) -> None:
        """Ids revoked through this process (tests, eager set-ups) take effect before the next refresh."""
        self._revoked = self._revoked | frozenset(task_ids)

    # -- commands ------------------------------------------------------------------------------------
    def _handle_commands(self) -> None:
        commands, self._cursor = self.mailbox.read_after(self._cursor, waited_since=self._waiting)
        for command in commands:
            if not command.is_for(self.worker.hostname):
                continue
            try:
                reply = self._carry_out(command)
            except Exception as exc:  # noqa: BLE001 - the reply carries the reason
                logger.warning("Remote control command %s failed: %s", command.name, exc)
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            self._replies[str(command.number)] = reply
            while len(self._replies) > _REPLIES_KEPT:
                self._replies.pop(next(iter(self._replies)))

    def _carry_out(self, command: Command) -> dict[str, Any]:
        worker, args = self.worker, command.arguments
        if command.name == "terminate":
            signum = signal_number(args.get("signal", "SIGTERM"))
            ended = [task_id for task_id in args.get("task_ids", []) if worker.terminate_task(task_id, signum)]
            return {"ok": f"terminate: {', '.join(ended) if ended else 'none of the tasks is running here'}"}
        if command.name == "shutdown":
            logger.warning("Remote control: shutdown requested.")
            worker.request_shutdown()
            return {"ok": "shutdown requested"}
        if command.name == "rate_limit":
            worker.set_rate_limit(args["task_name"], args.get("rate_limit"))
            return {"ok": f"new rate limit set successfully for {args['task_name']}"}
        if command.name == "time_limit":
            worker.set_time_limit(args["task_name"], args.get("soft"), args.get("hard"))
            return {"ok": f"time limits set successfully for {args['task_name']}"}
        if command.name == "add_consumer":
            queue = args["queue"]
            added = worker.add_queue(queue)
            return {"ok": f"add consumer {queue}" if added else f"already consuming from {queue}"}
        if command.name == "cancel_consumer":
            queue = args["queue"]
            if worker.cancel_queue(queue):
                return {"ok": f"no longer consuming from {queue}"}
            return {"error": f"not consuming from {queue}, or it is the last queue"}
        return {"error": f"unknown control command {command.name!r}"}

    # -- heartbeat -----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        worker = self.worker
        tracker = worker.tracker
        tasks = worker.app.tasks
        registered = []
        for name in sorted(tasks.keys()):
            if name.startswith("celery."):
                continue
            task = tasks[name]
            fields = [f"{item}={getattr(task, item)}" for item in TASK_INFO_ITEMS if getattr(task, item, None) is not None]
            registered.append(f"{name} [{' '.join(fields)}]" if fields else name)
        self._beats += 1
        usage = _rusage()
        active, reserved = worker.requests()
        return {
            "hostname": worker.hostname,
            "pid": os.getpid(),
            "interval": self.interval_seconds,
            "stale_after": stale_after_seconds(self.interval_seconds),
            "started_at": self.started_at,
            "clock": str(self._beats),
            "pool": {"implementation": f"cfq_shim.worker:{worker.pool_name}", "max-concurrency": worker.concurrency,
                     "processes": worker.child_pids()},
            "broker": {"transport": worker.transport_scheme()},
            "queues": list(worker.queues),
            "registered": registered,
            "active": active,
            "reserved": reserved,
            "total": dict(tracker.totals),
            "processed": tracker.processed,
            "failed": tracker.failed,
            "recent": tracker.recent(),
            "per_minute": tracker.per_minute(),
            "rusage": usage,
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
            "commands_done": self._cursor,
            "replies": dict(self._replies),
        }

    def _beat(self) -> None:
        # Kept in the store well past staleness, so the dashboard can show a worker as gone for a while.
        self.store.heartbeat(self.worker.hostname, self.snapshot(),
                             expires_seconds=max(300.0, stale_after_seconds(self.interval_seconds) * 10))


def _rusage() -> dict[str, float]:
    if resource is None:  # pragma: no cover - not on Windows
        return {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {field: getattr(usage, f"ru_{field}") for field in (
        "utime", "stime", "maxrss", "ixrss", "idrss", "isrss", "minflt", "majflt", "nswap", "inblock",
        "oublock", "msgsnd", "msgrcv", "nsignals", "nvcsw", "nivcsw")}
