"""Signatures (``task.s()``, ``task.si()``, ``signature(...)``) and the canvas names.

A :class:`Signature` is a dict (as in Celery), so it travels inside an envelope's ``callbacks`` as JSON.
It can be delayed, applied, cloned, partially applied, linked and chained into ``callbacks``.

``group``, ``chain`` and ``chord`` can be built (so code that composes them imports and runs up to the
point of use); running them raises :class:`~cfq_shim.exceptions.FeatureNotAvailable`: composition needs
a result backend, which comes in a later release.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Iterable

from .exceptions import FeatureNotAvailable

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery
    from .result import AsyncResult
    from .task import Task

__all__ = ["Signature", "signature", "maybe_signature", "subtask", "group", "chain", "chord", "chunks", "xmap", "xstarmap"]

_CANVAS_HINT = (
    "Canvas composition (group, chain, chord) needs a result backend, which cfq_shim does not have yet. "
    "Call the tasks one by one (link= works for a simple chain)."
)


class Signature(dict):
    """A task call to make later: task name, args, kwargs and options."""

    def __init__(
        self,
        task: Any = None,
        args: Iterable | None = None,
        kwargs: dict | None = None,
        options: dict | None = None,
        type: "Task | None" = None,  # noqa: A002 - Celery's name
        subtask_type: str | None = None,
        immutable: bool = False,
        app: "Celery | None" = None,
        **extra_options: Any,
    ) -> None:
        self._app = app
        if isinstance(task, dict):
            super().__init__(task)
            self._type = type
            return
        self._type = type if type is not None else (task if not isinstance(task, str) and task is not None else None)
        name = task if isinstance(task, str) or task is None else task.name
        super().__init__(
            task=name,
            args=tuple(args or ()),
            kwargs=dict(kwargs or {}),
            options={**(options or {}), **extra_options},
            subtask_type=subtask_type,
            immutable=immutable,
        )

    # -- Celery's attribute view ------------------------------------------------------------------
    @property
    def task(self) -> str:
        return self["task"]

    @property
    def name(self) -> str:
        return self["task"]

    @property
    def args(self) -> tuple:
        return tuple(self.get("args") or ())

    @args.setter
    def args(self, value: Iterable) -> None:
        self["args"] = tuple(value)

    @property
    def kwargs(self) -> dict:
        return self.get("kwargs") or {}

    @kwargs.setter
    def kwargs(self, value: dict) -> None:
        self["kwargs"] = dict(value)

    @property
    def options(self) -> dict:
        return self.setdefault("options", {})

    @property
    def subtask_type(self) -> str | None:
        return self.get("subtask_type")

    @property
    def immutable(self) -> bool:
        return bool(self.get("immutable"))

    @property
    def id(self) -> str | None:
        return self.options.get("task_id")

    @property
    def app(self) -> "Celery":
        if self._app is not None:
            return self._app
        if self._type is not None:
            return self._type.app
        from .local import get_current_app

        return get_current_app()

    @property
    def type(self) -> "Task":
        if self._type is None:
            self._type = self.app.tasks[self["task"]]
        return self._type

    # -- calling ----------------------------------------------------------------------------------
    def _merge(self, args: Iterable | None, kwargs: dict | None, options: dict | None) -> tuple[tuple, dict, dict]:
        options = {**self.options, **(options or {})}
        if self.immutable:
            return self.args, dict(self.kwargs), options
        # Partial arguments (a parent's result) come first, as in Celery.
        merged_args = tuple(args) + self.args if args else self.args
        merged_kwargs = {**self.kwargs, **kwargs} if kwargs else dict(self.kwargs)
        return merged_args, merged_kwargs, options

    def __call__(self, *partial_args: Any, **partial_kwargs: Any) -> Any:
        args, kwargs, _ = self._merge(partial_args, partial_kwargs, None)
        return self.type(*args, **kwargs)

    def delay(self, *partial_args: Any, **partial_kwargs: Any) -> "AsyncResult":
        return self.apply_async(partial_args, partial_kwargs)

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> "AsyncResult":
        args, kwargs, options = self._merge(args, kwargs, options)
        try:
            task = self.type
        except KeyError:
            # Not registered here (another service's task): send it by name, as Celery does.
            return self.app.send_task(self["task"], args, kwargs, **options)
        return task.apply_async(args, kwargs, **options)

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        args, kwargs, options = self._merge(args, kwargs, options)
        return self.type.apply(args, kwargs, **options)

    # -- building ---------------------------------------------------------------------------------
    def clone(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> "Signature":
        merged_args, merged_kwargs, merged_options = self._merge(args, kwargs, options)
        clone = Signature(
            self["task"], merged_args, merged_kwargs, merged_options, type=self._type,
            subtask_type=self.subtask_type, immutable=self.immutable, app=self._app,
        )
        return clone

    partial = clone

    def set(self, immutable: bool | None = None, **options: Any) -> "Signature":
        if immutable is not None:
            self["immutable"] = immutable
        self.options.update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        self["immutable"] = immutable

    def freeze(self, _id: str | None = None, **kwargs: Any) -> "AsyncResult":
        from .result import AsyncResult

        task_id = self.options.setdefault("task_id", _id or str(uuid.uuid4()))
        return AsyncResult(task_id, app=self._app)

    def link(self, callback: "Signature") -> "Signature":
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: "Signature") -> "Signature":
        self.options.setdefault("link_error", []).append(errback)
        return errback

    def on_error(self, errback: "Signature") -> "Signature":
        self.link_error(errback)
        return self

    def __or__(self, other: Any) -> "chain":
        if isinstance(other, chain):
            return chain(self, *other.tasks, app=self._app)
        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented

    def __deepcopy__(self, memo: dict) -> "Signature":
        import copy

        return Signature(copy.deepcopy(dict(self), memo), type=self._type, app=self._app)

    def __repr__(self) -> str:
        args = ", ".join([repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()])
        return f"{self['task']}({args}){'!' if self.immutable else ''}"

    def __reduce__(self) -> Any:
        return (Signature, (dict(self),))

    @classmethod
    def from_dict(cls, data: dict, app: "Celery | None" = None) -> "Signature":
        return cls(dict(data), app=app)


def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature:
    """``signature('name', args, kwargs, options)``, or a copy of a signature dict."""
    app = kwargs.pop("app", None)
    if isinstance(varies, dict):
        if isinstance(varies, Signature):
            return varies.clone()
        return Signature.from_dict(varies, app=app)
    return Signature(varies, *args, app=app, **kwargs)


subtask = signature


def maybe_signature(value: Any, app: "Celery | None" = None) -> Signature | None:
    if value is None:
        return None
    if isinstance(value, Signature):
        if app is not None and value._app is None:
            value._app = app
        return value
    if isinstance(value, dict):
        return Signature.from_dict(value, app=app)
    raise TypeError(f"Not a signature: {value!r}")


class _Composition(Signature):
    """Built like Celery's; running it needs a result backend (later release)."""

    _kind = "canvas"

    def _unavailable(self, *args: Any, **kwargs: Any) -> Any:
        raise FeatureNotAvailable(f"{type(self).__name__}(...) ({self._kind})", _CANVAS_HINT)

    apply_async = _unavailable
    apply = _unavailable
    delay = _unavailable
    __call__ = _unavailable

    @property
    def tasks(self) -> tuple:
        return tuple(self.kwargs.get("tasks", ()))


def _flatten(tasks: tuple) -> list:
    if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
        return list(tasks[0])
    return list(tasks)


class group(_Composition):  # noqa: N801 - Celery's name
    _kind = "run tasks in parallel and collect their results"

    def __init__(self, *tasks: Any, app: "Celery | None" = None, **options: Any) -> None:
        super().__init__("celery.group", (), {"tasks": _flatten(tasks)}, options, subtask_type="group", app=app)


class chain(_Composition):  # noqa: N801 - Celery's name
    _kind = "run tasks one after another, passing results"

    def __init__(self, *tasks: Any, app: "Celery | None" = None, **options: Any) -> None:
        super().__init__("celery.chain", (), {"tasks": _flatten(tasks)}, options, subtask_type="chain", app=app)

    def __or__(self, other: Any) -> "chain":
        if isinstance(other, chain):
            return chain(*self.tasks, *other.tasks, app=self._app)
        if isinstance(other, Signature):
            return chain(*self.tasks, other, app=self._app)
        return NotImplemented


class chord(_Composition):  # noqa: N801 - Celery's name
    _kind = "run a group, then a callback with all results"

    def __init__(self, header: Any, body: Any = None, app: "Celery | None" = None, **options: Any) -> None:
        header_tasks = list(header.tasks) if isinstance(header, group) else list(header)
        super().__init__(
            "celery.chord", (), {"header": header_tasks, "body": body}, options, subtask_type="chord", app=app
        )
        # chord(header)(body) is Celery's call form: building it still works, running it does not.

    def __call__(self, body: Any = None, **options: Any) -> Any:
        raise FeatureNotAvailable("chord(...) (run a group, then a callback with all results)", _CANVAS_HINT)


class chunks(_Composition):  # noqa: N801 - Celery's name
    _kind = "split an iterable into chunked tasks"

    def __init__(self, task: Any, it: Iterable, n: int, **options: Any) -> None:
        super().__init__("celery.chunks", (), {"task": task, "it": list(it), "n": n}, options, subtask_type="chunks")


class xmap(_Composition):  # noqa: N801 - Celery's name
    _kind = "map a task over an iterable"

    def __init__(self, task: Any, it: Iterable, **options: Any) -> None:
        super().__init__("celery.map", (), {"task": task, "it": list(it)}, options, subtask_type="xmap")


class xstarmap(xmap):  # noqa: N801 - Celery's name
    pass
