"""Task results: :class:`EagerResult` (eager mode) works; :class:`AsyncResult` holds an id.

Storing and fetching results needs a result backend, which cfq_shim does not have yet: reading the
state or value of an :class:`AsyncResult` raises :class:`~cfq_shim.exceptions.FeatureNotAvailable`
naming it. The id, equality and hashing work, so code that passes task ids around keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from . import states
from .exceptions import FeatureNotAvailable

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery

__all__ = ["AsyncResult", "EagerResult", "GroupResult", "ResultSet", "result_from_tuple"]

_BACKEND_HINT = (
    "Results are not stored yet (no result backend in cfq_shim). Have the task write what you need "
    "(a database row, a cache key), or use ignore_result=True."
)


class AsyncResult:
    """A handle on a task call, by id."""

    def __init__(self, id: str, backend: Any = None, task_name: str | None = None, app: "Celery | None" = None, parent: Any = None) -> None:  # noqa: A002
        self.id = id
        self.backend = backend
        self.name = task_name
        self.app = app
        self.parent = parent

    @property
    def task_id(self) -> str:
        return self.id

    def _unavailable(self, what: str) -> FeatureNotAvailable:
        return FeatureNotAvailable(f"AsyncResult.{what} (task results)", _BACKEND_HINT)

    def get(self, timeout: float | None = None, propagate: bool = True, **kwargs: Any) -> Any:
        raise self._unavailable("get()")

    wait = get

    def ready(self) -> bool:
        raise self._unavailable("ready()")

    def successful(self) -> bool:
        raise self._unavailable("successful()")

    def failed(self) -> bool:
        raise self._unavailable("failed()")

    def forget(self) -> None:
        raise self._unavailable("forget()")

    def revoke(self, connection: Any = None, terminate: bool = False, signal: Any = None, **kwargs: Any) -> None:
        raise FeatureNotAvailable("AsyncResult.revoke() (revoking tasks)", "Use expires= when sending instead.")

    @property
    def state(self) -> str:
        raise self._unavailable("state")

    status = state

    @property
    def result(self) -> Any:
        raise self._unavailable("result")

    info = result

    @property
    def traceback(self) -> Any:
        raise self._unavailable("traceback")

    @property
    def children(self) -> list:
        return []

    def as_tuple(self) -> tuple:
        return ((self.id, self.parent and self.parent.as_tuple()), None)

    def __str__(self) -> str:
        return self.id

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

    def __reduce__(self) -> Any:
        return (type(self), (self.id, None, self.name))


class EagerResult(AsyncResult):
    """The result of a task run in this process (``apply()`` or ``task_always_eager``)."""

    def __init__(self, id: str, ret_value: Any, state: str, traceback: str | None = None, name: str | None = None) -> None:  # noqa: A002
        super().__init__(id, task_name=name)
        self._result = ret_value
        self._state = state
        self._traceback = traceback

    def get(self, timeout: float | None = None, propagate: bool = True, disable_sync_subtasks: bool = True, **kwargs: Any) -> Any:
        if self.successful():
            return self.result
        if self.state in states.PROPAGATE_STATES:
            if propagate:
                raise self.result if isinstance(self.result, Exception) else Exception(self.result)
            return self.result
        return None

    wait = get

    def ready(self) -> bool:
        return True

    def successful(self) -> bool:
        return self._state == states.SUCCESS

    def failed(self) -> bool:
        return self._state == states.FAILURE

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

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"


class ResultSet:
    """Several results. Reading them needs a result backend (later release)."""

    def __init__(self, results: Iterable[AsyncResult], app: "Celery | None" = None, **kwargs: Any) -> None:
        self.results = list(results)
        self.app = app

    def add(self, result: AsyncResult) -> None:
        if result not in self.results:
            self.results.append(result)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.results)

    def _unavailable(self, what: str) -> FeatureNotAvailable:
        return FeatureNotAvailable(f"{type(self).__name__}.{what} (task results)", _BACKEND_HINT)

    def get(self, *args: Any, **kwargs: Any) -> list:
        if self.results and all(isinstance(r, EagerResult) for r in self.results):
            return [r.get(*args, **kwargs) for r in self.results]
        raise self._unavailable("get()")

    join = get

    def ready(self) -> bool:
        raise self._unavailable("ready()")

    def successful(self) -> bool:
        raise self._unavailable("successful()")

    def completed_count(self) -> int:
        raise self._unavailable("completed_count()")


class GroupResult(ResultSet):
    def __init__(self, id: str | None = None, results: Iterable[AsyncResult] = (), parent: Any = None, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(results, **kwargs)
        self.id = id
        self.parent = parent

    def save(self, backend: Any = None) -> None:
        raise self._unavailable("save()")

    @classmethod
    def restore(cls, id: str, backend: Any = None, app: Any = None) -> "GroupResult":  # noqa: A002
        raise FeatureNotAvailable("GroupResult.restore() (task results)", _BACKEND_HINT)


def result_from_tuple(r: Any, app: "Celery | None" = None) -> AsyncResult:
    (task_id, parent), _ = r
    return AsyncResult(task_id, app=app, parent=result_from_tuple(parent, app) if parent else None)
