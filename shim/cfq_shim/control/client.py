"""``app.control`` and ``app.control.inspect()``: Celery's remote control, through the shared store.

- ``revoke(ids, terminate=False, signal='SIGTERM')`` records the ids as revoked (with Celery's expiry:
  ``$CELERY_WORKER_REVOKE_EXPIRES`` seconds, 3 hours by default). Every worker skips them before they run,
  acks them and records them REVOKED. ``terminate=True`` also asks the worker running one to end it.
  The revoked set is shared, so ``destination`` narrows only who terminates.
- ``inspect()`` answers from the workers' heartbeats, in Celery's shapes: a dict keyed by worker name,
  or None when no live worker matches (as Celery answers when nobody replies).
- ``ping()``, ``shutdown()``, ``rate_limit()``, ``time_limit()``, ``add_consumer()`` and
  ``cancel_consumer()`` go through the store's numbered commands (mailbox.py); with ``reply=True`` the
  call waits (up to ``timeout``) for each live worker to have handled the command, and returns Celery's
  list of ``{worker: {"ok": ...}}`` replies.
- Everything else raises :class:`~cfq_shim.exceptions.FeatureNotAvailable` naming the call.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from typing import Any, Iterable

from ..exceptions import FeatureNotAvailable
from ..results import ResultBackend
from ..runtime import Runtime
from ..transport.base import QueueNotFound
from .agent import signal_number
from .heartbeat import live_workers
from .mailbox import Mailbox
from .replies import REPLIES
from .store import control_store

__all__ = ["Control", "Inspect", "revoke_expires_seconds"]

#: Celery's default of ``REVOKE_EXPIRES`` (seconds a revoked id is remembered).
DEFAULT_REVOKE_EXPIRES_SECONDS = 10_800.0

_NOT_CARRIED = ("it needs a broadcast channel to every worker, which Cloudflare Queues does not have; "
                "see docs/operations.md for what app.control carries through the shared store")


def revoke_expires_seconds() -> float:
    """How long a revoked id is remembered: ``$CELERY_WORKER_REVOKE_EXPIRES`` as in Celery, else 3 hours."""
    raw = os.environ.get("CELERY_WORKER_REVOKE_EXPIRES")
    try:
        return float(raw) if raw else DEFAULT_REVOKE_EXPIRES_SECONDS
    except ValueError:
        return DEFAULT_REVOKE_EXPIRES_SECONDS


def _ids(task_id: Any) -> list[str]:
    if task_id is None:
        return []
    if isinstance(task_id, str):
        return [task_id]
    return [str(getattr(t, "id", t)) for t in task_id]


def _destination(destination: Any) -> tuple[str, ...] | None:
    if destination is None:
        return None
    if not isinstance(destination, (list, tuple)):
        # kombu's message, which Celery users see for the same mistake.
        raise ValueError(f"destination must be a list/tuple not {type(destination)}")
    return tuple(destination)


class Inspect:
    """``app.control.inspect(destination=None, timeout=1.0, ...)``: answers from live heartbeats."""

    def __init__(self, app: Runtime, destination: Any = None, timeout: float = 1.0, callback: Any = None,
                 connection: Any = None, limit: int | None = None, pattern: str | None = None,
                 matcher: str | None = None, **kwargs: Any) -> None:
        self.app = app
        self.destination = destination
        self.timeout = timeout
        self.callback = callback
        self.limit = limit
        self.pattern = pattern
        self.matcher = matcher

    def _store(self) -> ResultBackend:
        return control_store(self.app)

    def _workers(self) -> dict[str, dict[str, Any]]:
        workers = live_workers(self._store())
        wanted = _destination(self.destination)
        if wanted is not None:
            workers = {name: info for name, info in workers.items() if name in wanted}
        if self.pattern:
            if self.matcher == "glob":
                workers = {n: i for n, i in workers.items() if fnmatch.fnmatch(n, self.pattern)}
            else:
                regex = re.compile(self.pattern)
                workers = {n: i for n, i in workers.items() if regex.match(n)}
        if self.limit:
            workers = dict(list(workers.items())[: self.limit])
        return workers

    def _request(self, method: str) -> Any:
        replies = {name: REPLIES[method](info) for name, info in self._workers().items()}
        if self.callback is not None:
            for name, reply in replies.items():
                self.callback({name: reply})
        return replies or None

    def ping(self, destination: Any = None) -> Any:
        return self._request("ping")

    def active(self, safe: Any = None) -> Any:
        return self._request("active")

    def scheduled(self, safe: Any = None) -> Any:
        return self._request("scheduled")

    def reserved(self, safe: Any = None) -> Any:
        return self._request("reserved")

    def registered(self, *taskinfoitems: Any) -> Any:
        return self._request("registered")

    registered_tasks = registered

    def stats(self) -> Any:
        return self._request("stats")

    def active_queues(self) -> Any:
        return self._request("active_queues")

    def revoked(self) -> Any:
        """The revoked ids, per live worker (the set is shared, so every worker has the same)."""
        ids = sorted(self._store().revoked_ids())
        workers = self._workers()
        if not workers:
            return None
        return {name: list(ids) for name in workers}

    def query_task(self, *ids: Any) -> Any:
        """``{worker: {task_id: [state, request]}}`` for the ids a worker is running or holds."""
        wanted = set(_ids(ids[0] if len(ids) == 1 and not isinstance(ids[0], str) else ids))
        replies: dict[str, dict[str, Any]] = {}
        for name, info in self._workers().items():
            found = {}
            for state, key in (("active", "active"), ("reserved", "reserved")):
                for request in info.get(key) or ():
                    if request.get("id") in wanted:
                        found[request["id"]] = [state, request]
            replies[name] = found
        return replies or None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise FeatureNotAvailable(f"app.control.inspect().{name}()", f"cfq_shim cannot answer it: {_NOT_CARRIED}.")


class Control:
    """``app.control``."""

    def __init__(self, app: Runtime) -> None:
        self.app = app

    def _store(self) -> ResultBackend:
        return control_store(self.app)

    def inspect(self, destination: Any = None, timeout: float = 1.0, callback: Any = None,
                connection: Any = None, app: Any = None, limit: int | None = None, pattern: str | None = None,
                matcher: str | None = None) -> Inspect:
        return Inspect(self.app, destination=destination, timeout=timeout, callback=callback, limit=limit,
                       pattern=pattern, matcher=matcher)

    # -- revoking ------------------------------------------------------------------------------------
    def revoke(self, task_id: Any, destination: Any = None, terminate: bool = False, signal: Any = "SIGTERM",
               **kwargs: Any) -> Any:
        ids = _ids(task_id)
        if not ids:
            return None
        signal = signal or "SIGTERM"  # AsyncResult.revoke passes None
        self._store().revoke(ids, expires_seconds=revoke_expires_seconds())
        if terminate:
            signal_number(signal)  # an unknown signal fails here, not in the worker
            return self._send("terminate", {"task_ids": ids, "signal": str(signal)}, destination, **kwargs)
        if kwargs.get("reply"):  # nothing to wait for: each live worker reads the shared set
            return [{name: {"ok": f"tasks {', '.join(ids)} flagged as revoked"}}
                    for name in self._live(destination)]
        return None

    def terminate(self, task_id: Any, destination: Any = None, signal: Any = "SIGTERM", **kwargs: Any) -> Any:
        return self.revoke(task_id, destination=destination, terminate=True, signal=signal, **kwargs)

    def revoke_by_stamped_headers(self, headers: Any, destination: Any = None, terminate: bool = False,
                                  signal: Any = "SIGTERM", **kwargs: Any) -> Any:
        raise FeatureNotAvailable(
            "app.control.revoke_by_stamped_headers()",
            "cfq_shim does not carry stamped headers; revoke by task id (app.control.revoke(ids)).")

    # -- commands through the store --------------------------------------------------------------------
    def ping(self, destination: Any = None, timeout: float = 1.0, **kwargs: Any) -> list[dict[str, Any]]:
        return [{name: {"ok": "pong"}} for name in self._live(destination)]

    def shutdown(self, destination: Any = None, **kwargs: Any) -> Any:
        return self._send("shutdown", {}, destination, **kwargs)

    def rate_limit(self, task_name: str, rate_limit: Any, destination: Any = None, **kwargs: Any) -> Any:
        return self._send("rate_limit", {"task_name": task_name, "rate_limit": rate_limit}, destination, **kwargs)

    def time_limit(self, task_name: str, soft: float | None = None, hard: float | None = None,
                   destination: Any = None, **kwargs: Any) -> Any:
        return self._send("time_limit", {"task_name": task_name, "soft": soft, "hard": hard}, destination, **kwargs)

    def add_consumer(self, queue: str, exchange: Any = None, exchange_type: str = "direct",
                     routing_key: Any = None, options: Any = None, destination: Any = None, **kwargs: Any) -> Any:
        return self._send("add_consumer", {"queue": queue}, destination, **kwargs)

    def cancel_consumer(self, queue: str, destination: Any = None, **kwargs: Any) -> Any:
        return self._send("cancel_consumer", {"queue": queue}, destination, **kwargs)

    def purge(self, connection: Any = None) -> int:
        """Delete every waiting message of the app's queues; returns how many (Celery's ``purge``)."""
        deleted = 0
        for name in self.app.queues():
            try:
                deleted += self.app.transport.purge(name)
            except QueueNotFound:
                continue
        return deleted

    discard_all = purge

    def _live(self, destination: Any) -> list[str]:
        wanted = _destination(destination)
        return [name for name in live_workers(self._store()) if wanted is None or name in wanted]

    def _send(self, name: str, arguments: dict[str, Any], destination: Any, *, reply: bool = False,
              timeout: float | None = None, **kwargs: Any) -> Any:
        store = self._store()
        number = Mailbox(store).send(name, arguments, _destination(destination))
        if not reply:
            return None
        return _wait_for_replies(store, number, self._live(destination), 1.0 if timeout is None else timeout)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise FeatureNotAvailable(f"app.control.{name}()", f"cfq_shim does not carry it: {_NOT_CARRIED}.")


def _wait_for_replies(store: ResultBackend, number: int, workers: Iterable[str], timeout: float) -> list[dict]:
    """Celery's ``[{worker: reply}, ...]`` from the workers that handled command ``number`` in time."""
    pending = set(workers)
    replies: list[dict[str, Any]] = []
    deadline = time.monotonic() + max(timeout, 0.0)
    while pending:
        for name, info in live_workers(store).items():
            if name in pending and int(info.get("commands_done") or 0) >= number:
                pending.discard(name)
                reply = (info.get("replies") or {}).get(str(number))
                if reply is not None:
                    replies.append({name: reply})
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return replies

