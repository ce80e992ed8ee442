"""Task results: :class:`AsyncResult`, :class:`GroupResult`, :class:`ResultSet` and :class:`EagerResult`,
with Celery's attributes and methods, read through ``app.backend`` (:mod:`cfq_shim.backend`).

An id with nothing stored reads as PENDING, as in Celery. ``get()`` polls the backend with backoff and
re-raises a failed task's exception as its original type where that type can be imported here
(:mod:`cfq_shim.results.meta` says what happens otherwise). Inside a task running on a worker,
``get()`` raises RuntimeError as Celery does, unless wrapped in :func:`allow_join_result`.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from . import states
from .exceptions import IncompleteStream, TaskRevokedError, TimeoutError
from .local import get_current_app, get_current_worker_task

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery

__all__ = [
    "AsyncResult", "EagerResult", "GroupResult", "ResultSet", "result_from_tuple", "allow_join_result",
    "denied_join_result", "assert_will_not_block",
]

_E_WOULDBLOCK = (
    "Never call result.get() within a task!\n"
    "See https://docs.celeryq.dev/en/latest/userguide/tasks.html#avoid-launching-synchronous-subtasks\n"
)


class _JoinPolicy(threading.local):
    allowed: bool | None = None


_join_policy = _JoinPolicy()


def _task_join_will_block() -> bool:
    """True inside a task a worker runs (not eager, not called directly), unless allowed."""
    if _join_policy.allowed is not None:
        return not _join_policy.allowed
    task = get_current_worker_task()
    return task is not None and not task.request.is_eager


def assert_will_not_block() -> None:
    if _task_join_will_block():
        raise RuntimeError(_E_WOULDBLOCK)


@contextmanager
def allow_join_result() -> Iterator[None]:
    """Let ``result.get()`` wait inside a task (Celery's escape hatch; beware of deadlocks)."""
    previous, _join_policy.allowed = _join_policy.allowed, True
    try:
        yield
    finally:
        _join_policy.allowed = previous


@contextmanager
def denied_join_result() -> Iterator[None]:
    previous, _join_policy.allowed = _join_policy.allowed, False
    try:
        yield
    finally:
        _join_policy.allowed = previous


def _raise_state(meta: dict) -> None:
    """Raise a ready meta's exception (FAILURE, REVOKED)."""
    value = meta.get("result")
    if isinstance(value, BaseException):
        raise value
    if meta.get("status") == states.REVOKED:
        raise TaskRevokedError(str(value or "revoked"))
    raise Exception(value)


class _BoundToApp:
    """``.app``: the app given at construction, else the current app (read when used, as Celery's)."""

    _app: "Celery | None"

    @property
    def app(self) -> "Celery":
        if self._app is None:
            return get_current_app()
        return self._app

    @app.setter
    def app(self, value: "Celery") -> None:
        self._app = value


class AsyncResult(_BoundToApp):
    """A task call's result, by id: state, value, and a way to wait for it."""

    def __init__(self, id: str, backend: Any = None, task_name: str | None = None, app: "Celery | None" = None, parent: Any = None) -> None:  # noqa: A002
        if id is None:
            raise ValueError(f"AsyncResult requires valid id, not {type(id)}")
        self.id = id
        self._backend = backend
        self._task_name = task_name
        self._app = app
        self.parent = parent
        self._cache: dict | None = None
        self._ignored = False

    # -- wiring -----------------------------------------------------------------------------------------
    @property
    def backend(self) -> Any:
        return self._backend if self._backend is not None else self.app.backend

    @backend.setter
    def backend(self, value: Any) -> None:
        self._backend = value

    @property
    def task_id(self) -> str:
        return self.id

    @property
    def ignored(self) -> bool:
        return self._ignored

    @ignored.setter
    def ignored(self, value: bool) -> None:
        self._ignored = value

    # -- meta -------------------------------------------------------------------------------------------
    def _get_task_meta(self) -> dict:
        if self._cache is None:
            return self._maybe_set_cache(self.backend.get_task_meta(self.id))
        return self._cache

    def _maybe_set_cache(self, meta: dict) -> dict:
        if meta and meta.get("status") in states.READY_STATES:
            meta = dict(meta)
            children = meta.get("children")
            if children:
                meta["children"] = [result_from_tuple(child, self._app) for child in children]
            self._cache = meta
        return meta

    @property
    def state(self) -> str:
        return self._get_task_meta()["status"]

    status = state

    @property
    def result(self) -> Any:
        return self._get_task_meta()["result"]

    info = result

    @property
    def traceback(self) -> str | None:
        return self._get_task_meta().get("traceback")

    @property
    def date_done(self) -> datetime | None:
        value = self._get_task_meta().get("date_done")
        if value and not isinstance(value, datetime):
            return datetime.fromisoformat(value)
        return value

    @property
    def name(self) -> str | None:
        return self._get_task_meta().get("name")

    @property
    def args(self) -> Any:
        return self._get_task_meta().get("args")

    @property
    def kwargs(self) -> Any:
        return self._get_task_meta().get("kwargs")

    @property
    def worker(self) -> str | None:
        return self._get_task_meta().get("worker")

    @property
    def retries(self) -> int | None:
        return self._get_task_meta().get("retries")

    @property
    def queue(self) -> str | None:
        return self._get_task_meta().get("queue")

    @property
    def children(self) -> list | None:
        children = self._get_task_meta().get("children")
        if children and not isinstance(children[0], AsyncResult):
            return [result_from_tuple(child, self._app) for child in children]
        return children

    @property
    def supports_native_join(self) -> bool:
        return False

    def ready(self) -> bool:
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        return self.state == states.FAILURE

    def exists(self) -> bool:
        return bool(self.backend.task_result_exists(self.id))

    # -- waiting ----------------------------------------------------------------------------------------
    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        no_ack: bool = True,
        follow_parents: bool = True,
        callback: Callable[[str, Any], None] | None = None,
        on_message: Any = None,
        on_interval: Callable[[], None] | None = None,
        disable_sync_subtasks: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Wait until the task is ready and return its result; re-raise its exception when
        ``propagate``. Polls start every ``interval`` seconds, or sooner when the backend answers fast
        (SQLite: 20 ms), and back off to the backend's longest pause (SQLite 0.2 s, Redis 0.5 s, D1 2 s)."""
        if self._ignored:
            return None
        if disable_sync_subtasks:
            assert_will_not_block()
        check_parents = None
        if follow_parents and propagate and self.parent is not None:
            self._maybe_reraise_parent_error()
            check_parents = self._maybe_reraise_parent_error
        if self._cache is None:
            ticks = [fn for fn in (check_parents, on_interval) if fn is not None]
            meta = self.backend.wait_for(
                [self.id], timeout=timeout, interval=_first_interval(self.backend, interval),
                on_interval=(lambda: [fn() for fn in ticks]) if ticks else None,
            )[self.id]
            self._maybe_set_cache(meta)
        return self.maybe_throw(propagate=propagate, callback=callback)

    wait = get

    def maybe_throw(self, propagate: bool = True, callback: Callable[[str, Any], None] | None = None) -> Any:
        meta = self._get_task_meta()
        if meta["status"] in states.PROPAGATE_STATES and propagate:
            _raise_state(meta)
        value = meta["result"]
        if callback is not None:
            callback(self.id, value)
        return value

    maybe_reraise = maybe_throw

    def _parents(self) -> Iterator["AsyncResult"]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def _maybe_reraise_parent_error(self) -> None:
        for node in reversed(list(self._parents())):
            node.maybe_throw()

    def iterdeps(self, intermediate: bool = False) -> Iterator[tuple[Any, "AsyncResult"]]:
        stack: list[tuple[Any, AsyncResult]] = [(None, self)]
        while stack:
            parent, node = stack.pop(0)
            yield parent, node
            if node.ready():
                stack.extend((node, child) for child in node.children or [])
            elif not intermediate:
                raise IncompleteStream()

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple["AsyncResult", Any]]:
        """Yield ``(result, value)`` for this result and, recursively, the children it recorded."""
        for _, node in self.iterdeps(intermediate=intermediate):
            yield node, node.get(**kwargs)

    def get_leaf(self) -> Any:
        value = None
        for _, node in self.iterdeps():
            value = node.get()
        return value

    def forget(self) -> None:
        self._cache = None
        if self.parent is not None:
            self.parent.forget()
        self.backend.forget(self.id)

    def revoke(self, connection: Any = None, terminate: bool = False, signal: Any = None, wait: bool = False, timeout: float | None = None) -> None:
        self.app.control.revoke(self.id, connection=connection, terminate=terminate, signal=signal, reply=wait, timeout=timeout)

    # -- identity ---------------------------------------------------------------------------------------
    def as_tuple(self) -> tuple:
        parent = self.parent
        return ((self.id, parent and parent.as_tuple()), None)

    def as_list(self) -> list:
        results = []
        parent = self.parent
        results.append(self.id)
        if parent is not None:
            results.extend(parent.as_list())
        return results

    def __str__(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.id}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __copy__(self) -> "AsyncResult":
        return type(self)(self.id, self._backend, None, self._app, self.parent)

    def __reduce__(self) -> Any:
        return (AsyncResult, (self.id, None, None, None, self.parent))


def _first_interval(backend: Any, interval: float) -> float | None:
    """The first pause between polls: Celery's ``interval`` (0.5 s by default), or the backend's own
    starting pause when shorter, so a local backend answers in milliseconds."""
    store = getattr(backend, "store", None)
    start = getattr(store, "poll_interval_seconds", None)
    if start is None:
        return interval
    return min(float(interval), start) if interval is not None else start


class EagerResult(AsyncResult):
    """The result of a task run in this process (``apply()`` or ``task_always_eager``)."""

    def __init__(self, id: str, ret_value: Any, state: str, traceback: str | None = None, name: str | None = None) -> None:  # noqa: A002
        super().__init__(id, task_name=name)
        self._result = ret_value
        self._state = state
        self._traceback = traceback
        self._name = name

    def _get_task_meta(self) -> dict:
        return {"status": self._state, "result": self._result, "traceback": self._traceback, "task_id": self.id,
                "children": [], "name": self._name}

    def get(self, timeout: float | None = None, propagate: bool = True, disable_sync_subtasks: bool = True, **kwargs: Any) -> Any:
        if disable_sync_subtasks:
            assert_will_not_block()
        if self.successful():
            return self.result
        if self.state in states.PROPAGATE_STATES:
            if propagate:
                raise self.result if isinstance(self.result, BaseException) else Exception(self.result)
            return self.result
        return None

    wait = get

    def ready(self) -> bool:
        return True

    def forget(self) -> None:
        pass

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        self._state = states.REVOKED

    @property
    def state(self) -> str:
        return self._state

    status = state

    @property
    def result(self) -> Any:
        return self._result

    info = result

    @property
    def traceback(self) -> str | None:
        return self._traceback

    @property
    def children(self) -> list:
        return []

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"


class ResultSet(_BoundToApp):
    """Several results, read together."""

    def __init__(self, results: Iterable[AsyncResult], app: "Celery | None" = None, ready_barrier: Any = None, **kwargs: Any) -> None:
        self.results = list(results)
        self._app = app

    @property
    def backend(self) -> Any:
        for result in self.results:
            if not isinstance(result, EagerResult) and not isinstance(result, ResultSet):
                return result.backend
        return self.app.backend

    def add(self, result: AsyncResult) -> None:
        if result not in self.results:
            self.results.append(result)

    def remove(self, result: AsyncResult | str) -> None:
        if isinstance(result, str):
            result = AsyncResult(result)
        self.results.remove(result)

    def discard(self, result: AsyncResult | str) -> None:
        try:
            self.remove(result)
        except ValueError:
            pass

    def update(self, results: Iterable[AsyncResult]) -> None:
        self.results.extend(r for r in results if r not in self.results)

    def clear(self) -> None:
        self.results[:] = []

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[AsyncResult]:
        return iter(self.results)

    def __getitem__(self, index: int) -> AsyncResult:
        return self.results[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResultSet):
            return other.results == self.results
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self.results))

    def successful(self) -> bool:
        return all(result.successful() for result in self.results)

    def failed(self) -> bool:
        return any(result.failed() for result in self.results)

    def waiting(self) -> bool:
        return any(not result.ready() for result in self.results)

    def ready(self) -> bool:
        return all(result.ready() for result in self.results)

    def completed_count(self) -> int:
        return sum(int(result.successful()) for result in self.results)

    def maybe_throw(self, callback: Any = None, propagate: bool = True) -> None:
        for result in self.results:
            result.maybe_throw(callback=callback, propagate=propagate)

    def forget(self) -> None:
        for result in self.results:
            result.forget()

    def revoke(self, connection: Any = None, terminate: bool = False, signal: Any = None, wait: bool = False, timeout: float | None = None) -> None:
        self.app.control.revoke([result.id for result in self.results], connection=connection, terminate=terminate,
                                signal=signal, reply=wait, timeout=timeout)

    def __reduce__(self) -> Any:
        return (type(self), (self.results,))

    def _prefetch(self, timeout: float | None, interval: float) -> None:
        """Wait for every plain result in one poll loop (one backend read for all ids per round)."""
        plain = [r for r in self.results if type(r) is AsyncResult and r._cache is None]
        if not plain:
            return
        backend = plain[0].backend
        metas = backend.wait_for([r.id for r in plain], timeout=timeout, interval=_first_interval(backend, interval))
        for result in plain:
            result._maybe_set_cache(metas[result.id])

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5, callback: Any = None,
            no_ack: bool = True, on_message: Any = None, disable_sync_subtasks: bool = True, on_interval: Any = None) -> list:
        """The results, in order, once all are ready (``join``)."""
        return self.join(timeout=timeout, propagate=propagate, interval=interval, callback=callback,
                         disable_sync_subtasks=disable_sync_subtasks, on_interval=on_interval)

    def join(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5, callback: Any = None,
             no_ack: bool = True, on_message: Any = None, disable_sync_subtasks: bool = True, on_interval: Any = None) -> list:
        if disable_sync_subtasks:
            assert_will_not_block()
        self._prefetch(timeout, interval)
        values = []
        for result in self.results:
            value = result.get(timeout=timeout, propagate=propagate, interval=interval, on_interval=on_interval,
                               disable_sync_subtasks=False)
            if callback is not None:
                callback(result.id, value)
            else:
                values.append(value)
        return values

    join_native = join

    def iterate(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5) -> Iterator[Any]:
        for value in self.join(timeout=timeout, propagate=propagate, interval=interval):
            yield value

    @property
    def supports_native_join(self) -> bool:
        return False


class GroupResult(ResultSet):
    """The results of a group, with the group's id (``save()``/``restore()`` keep it in the backend)."""

    def __init__(self, id: str | None = None, results: Iterable[AsyncResult] = (), parent: Any = None, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(results, **kwargs)
        self.id = id
        self.parent = parent

    def save(self, backend: Any = None) -> Any:
        return (backend or self.app.backend).save_group(self.id, self)

    def delete(self, backend: Any = None) -> None:
        (backend or self.app.backend).delete_group(self.id)

    @classmethod
    def restore(cls, id: str, backend: Any = None, app: Any = None) -> "GroupResult | None":  # noqa: A002
        if app is None:
            app = get_current_app()
        stored = (backend or app.backend).restore_group(id)
        return result_from_tuple(stored, app) if stored else None

    def as_tuple(self) -> tuple:
        parent = self.parent
        return ((self.id, parent and parent.as_tuple()), [result.as_tuple() for result in self.results])

    @property
    def children(self) -> list:
        return self.results

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GroupResult):
            return other.id == self.id and other.results == self.results and other.parent == self.parent
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def __str__(self) -> str:
        return str(self.id)

    def __reduce__(self) -> Any:
        return (GroupResult, (self.id, self.results, self.parent))


def result_from_tuple(r: Any, app: "Celery | None" = None) -> Any:
    """Rebuild an AsyncResult or GroupResult from ``as_tuple()`` (lists after a JSON round trip)."""
    if isinstance(r, (AsyncResult, ResultSet)):
        return r
    res, nodes = r
    task_id, parent = res
    parent_result = result_from_tuple(parent, app) if parent else None
    if nodes is not None:
        return GroupResult(task_id, [result_from_tuple(child, app) for child in nodes], parent=parent_result, app=app)
    return AsyncResult(task_id, app=app, parent=parent_result)
