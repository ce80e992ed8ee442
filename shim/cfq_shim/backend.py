"""``app.backend``: Celery's result-backend API over a :class:`~cfq_shim.results.ResultBackend`.

:class:`Backend` speaks Celery's method names (``store_result``, ``mark_as_done``, ``get_task_meta``,
``forget``, ``save_group``, ``on_chord_part_return``, ...), turns values and exceptions into the JSON meta
of :mod:`cfq_shim.results.meta`, applies ``result_expires`` and ``result_extended``, and waits for
results by polling with backoff. The store underneath (``app.backend.store``) also holds the shared state
of chords, revoked ids, heartbeats and locks.

:class:`DisabledBackend` is what an app without ``result_backend`` gets: storing does nothing (as in
Celery) and reading raises :class:`NoResultBackend`, which suggests a backend instead of picking one.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import states
from .exceptions import ImproperlyConfigured, TaskRevokedError, TimeoutError
from .results import ResultBackend, describe_url
from .results.meta import build_meta, decode_meta, encode_exception, encode_result, pending_meta

if TYPE_CHECKING:  # pragma: no cover
    from .conf import Settings

__all__ = ["Backend", "DisabledBackend", "NoResultBackend", "expires_seconds"]

#: A suggestion for projects that read results and configure no backend.
SUGGESTED_BACKEND = "sqlite:///.cfq-shim/results.sqlite3"


class NoResultBackend(ImproperlyConfigured, NotImplementedError):
    """A project read a task's state or result with no ``result_backend`` configured."""


def expires_seconds(value: Any) -> float | None:
    """``result_expires`` (a timedelta or seconds; None or 0: never) in seconds."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return seconds if seconds > 0 else None


#: Called with (backend, request, state, result) when a chord header task ends (cfq_shim.chords).
ChordPartHandler = Callable[["Backend", Any, str, Any], None]


class Backend:
    """Celery's backend API for one app."""

    READY_STATES = states.READY_STATES
    UNREADY_STATES = states.UNREADY_STATES
    EXCEPTION_STATES = states.EXCEPTION_STATES
    PROPAGATE_STATES = states.PROPAGATE_STATES
    supports_native_join = False
    supports_autoexpire = True
    persistent = True

    def __init__(self, store: ResultBackend, conf: "Settings", url: str, *, on_chord_part: ChordPartHandler | None = None) -> None:
        #: The shared store: task metas, and chords, revoked ids, heartbeats, locks (cfq_shim.results.base).
        self.store = store
        self.conf = conf
        self._url = describe_url(url) if "://" in url else url
        self._on_chord_part = on_chord_part

    @property
    def url(self) -> str:
        """The backend URL without credentials."""
        return self._url

    def __repr__(self) -> str:
        return f"<Backend {self._url}>"

    @property
    def expires(self) -> float | None:
        return expires_seconds(self.conf.get("result_expires"))

    # -- writing ----------------------------------------------------------------------------------------
    def encode_meta(self, task_id: str, result: Any, state: str, traceback: str | None = None, request: Any = None) -> dict:
        """The JSON meta to store; raises UnencodableResult when a plain result is not JSON."""
        if isinstance(result, BaseException):
            value = encode_exception(result)
        else:
            value = encode_result(result)
        return build_meta(task_id, state, value, traceback=traceback, request=request,
                          extended=bool(self.conf.get("result_extended")))

    def store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None, request: Any = None, **kwargs: Any) -> Any:
        self.store.store_meta(task_id, self.encode_meta(task_id, result, state, traceback, request), expires_seconds=self.expires)
        return result

    def mark_as_started(self, task_id: str, **meta: Any) -> Any:
        return self.store_result(task_id, meta, states.STARTED)

    def mark_as_done(self, task_id: str, result: Any, request: Any = None, store_result: bool = True, state: str = states.SUCCESS) -> None:
        if store_result and not _ignores_result(request):
            self.store_result(task_id, result, state, request=request)
        if request is not None and getattr(request, "chord", None):
            self.on_chord_part_return(request, state, result)

    def mark_as_failure(self, task_id: str, exc: BaseException, traceback: str | None = None, request: Any = None,
                        store_result: bool = True, call_errbacks: bool = True, state: str = states.FAILURE) -> None:
        if store_result:
            self.store_result(task_id, exc, state, traceback=traceback, request=request)
        if request is not None and getattr(request, "chord", None):
            self.on_chord_part_return(request, state, exc)

    def mark_as_retry(self, task_id: str, exc: BaseException, traceback: str | None = None, request: Any = None) -> None:
        self.store_result(task_id, exc, states.RETRY, traceback=traceback, request=request)

    def mark_as_revoked(self, task_id: str, reason: str = "", request: Any = None, store_result: bool = True, state: str = states.REVOKED) -> None:
        exc = TaskRevokedError(reason)
        if store_result:
            self.store_result(task_id, exc, state, request=request)
        if request is not None and getattr(request, "chord", None):
            self.on_chord_part_return(request, state, exc)

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        """A chord header task ended: count it, and fire the body when it was the last (cfq_shim.chords)."""
        if self._on_chord_part is not None:
            self._on_chord_part(self, request, state, result)

    def forget(self, task_id: str) -> None:
        self.store.forget(task_id)

    # -- reading ----------------------------------------------------------------------------------------
    def get_task_meta(self, task_id: str, cache: bool = True) -> dict:
        """The task's meta with its exception rebuilt; PENDING for an id with nothing stored."""
        meta = self.store.get_meta(task_id)
        return pending_meta(task_id) if meta is None else decode_meta(meta)

    def get_task_metas(self, task_ids: Sequence[str]) -> dict[str, dict]:
        found = self.store.get_many_meta(list(task_ids))
        return {task_id: decode_meta(found[task_id]) if task_id in found else pending_meta(task_id) for task_id in task_ids}

    def get_state(self, task_id: str) -> str:
        return self.get_task_meta(task_id)["status"]

    get_status = get_state

    def get_result(self, task_id: str) -> Any:
        return self.get_task_meta(task_id)["result"]

    def get_traceback(self, task_id: str) -> str | None:
        return self.get_task_meta(task_id).get("traceback")

    def task_result_exists(self, task_id: str) -> bool:
        return self.store.get_meta(task_id) is not None

    def wait_for(self, task_ids: Sequence[str], *, timeout: float | None = None, interval: float | None = None,
                 on_interval: Callable[[], None] | None = None) -> dict[str, dict]:
        """Poll until every task is ready; returns their metas. Starts at ``interval`` (default: the
        backend's) and backs off to the backend's longest interval. Raises TimeoutError."""
        pending = list(dict.fromkeys(task_ids))
        done: dict[str, dict] = {}
        pause = interval if interval is not None else self.store.poll_interval_seconds
        pause = min(pause, self.store.max_poll_interval_seconds) if interval is None else pause
        ceiling = max(pause, self.store.max_poll_interval_seconds)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            metas = self.get_task_metas(pending)
            for task_id, meta in metas.items():
                if meta["status"] in states.READY_STATES:
                    done[task_id] = meta
            pending = [task_id for task_id in pending if task_id not in done]
            if not pending:
                return done
            if on_interval is not None:
                on_interval()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("The operation timed out.")
            sleep = pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(sleep)
            pause = min(ceiling, pause * 1.5)

    # -- groups -----------------------------------------------------------------------------------------
    def save_group(self, group_id: str, result: Any) -> Any:
        self.store.save_group(group_id, result.as_tuple() if hasattr(result, "as_tuple") else result, expires_seconds=self.expires)
        return result

    def restore_group(self, group_id: str, cache: bool = True) -> Any:
        return self.store.restore_group(group_id)

    def delete_group(self, group_id: str) -> None:
        self.store.delete_group(group_id)

    # -- lifecycle --------------------------------------------------------------------------------------
    def reset_after_fork(self) -> None:
        self.store.reset_after_fork()

    def close(self) -> None:
        self.store.close()


class DisabledBackend:
    """No ``result_backend``: writes do nothing (as in Celery); reads raise :class:`NoResultBackend`."""

    READY_STATES = states.READY_STATES
    EXCEPTION_STATES = states.EXCEPTION_STATES
    PROPAGATE_STATES = states.PROPAGATE_STATES
    supports_native_join = False
    url = None

    def _missing(self, *args: Any, **kwargs: Any) -> Any:
        raise NoResultBackend(
            "No result backend is configured, so task states and results are not stored. Set one, e.g. "
            f"app.conf.result_backend = {SUGGESTED_BACKEND!r} (every process on this machine shares it), "
            "'redis://…', 'db+postgresql://…', 'django-db' or 'd1://DATABASE_ID'; see docs/settings.md."
        )

    get_task_meta = get_task_metas = get_state = get_status = get_result = get_traceback = _missing
    wait_for = restore_group = save_group = delete_group = forget = task_result_exists = _missing
    on_chord_part_return = _missing

    @property
    def store(self) -> Any:
        return self._missing()

    def store_result(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def mark_as_started(self, *args: Any, **kwargs: Any) -> None:
        pass

    mark_as_done = mark_as_failure = mark_as_retry = mark_as_revoked = mark_as_started

    def reset_after_fork(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<DisabledBackend: no result_backend configured>"


def _ignores_result(request: Any) -> bool:
    return bool(getattr(request, "ignore_result", False)) if request is not None else False
