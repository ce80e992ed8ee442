"""Signatures (``task.s()``, ``task.si()``, ``signature(...)``) and the canvas primitives.

A :class:`Signature` is a dict (as in Celery), so it travels inside an envelope's ``callbacks`` as JSON.
It can be delayed, applied, cloned, partially applied, linked and chained into ``callbacks``.

What needs no result backend works: ``chain`` (sent as link callbacks), ``group`` (each task sent; reading
the group's results needs a backend), and everything in eager mode (``task_always_eager`` or ``apply()``),
``chord`` included. What needs one raises :class:`~cfq_shim.exceptions.FeatureNotAvailable` naming it:
a chord outside eager mode, a group inside a sent chain, ``chunks``/``xmap``/``xstarmap``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Iterable

from .exceptions import FeatureNotAvailable
from .local import get_current_app
from .result import AsyncResult, GroupResult

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery
    from .task import Task

__all__ = ["Signature", "signature", "maybe_signature", "subtask", "group", "chain", "chord", "chunks", "xmap", "xstarmap"]

_CANVAS_HINT = (
    "This canvas composition needs a result backend, which cfq_shim does not have yet. chain() and group() "
    "work without one; a chord works in eager mode only."
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
        composition = _COMPOSITIONS.get(value.get("subtask_type") or "")
        if composition is not None:
            rebuilt = composition.__new__(composition)
            dict.__init__(rebuilt, value)
            rebuilt._app, rebuilt._type = app, None
            return rebuilt
        return Signature.from_dict(value, app=app)
    raise TypeError(f"Not a signature: {value!r}")


class _Composition(Signature):
    """A canvas primitive, built like Celery's."""

    _kind = "canvas"

    def _unavailable(self, why: str) -> FeatureNotAvailable:
        return FeatureNotAvailable(f"{type(self).__name__}(...) {why}", _CANVAS_HINT)

    @property
    def tasks(self) -> tuple:
        return tuple(maybe_signature(task, app=self._app) for task in self.kwargs.get("tasks", ()))

    def delay(self, *partial_args: Any, **partial_kwargs: Any) -> Any:
        return self.apply_async(partial_args, partial_kwargs)

    def __call__(self, *partial_args: Any, **partial_kwargs: Any) -> Any:
        return self.apply_async(partial_args, partial_kwargs)

    @property
    def app(self) -> "Celery":
        """The composition's app, else its first task's (as Celery), else the current app."""
        if self._app is not None:
            return self._app
        for task in self._members():
            if isinstance(task, Signature):
                return task.app
        return super().app

    def _members(self) -> list:
        return list(self.kwargs.get("tasks") or self.kwargs.get("header") or ())

    def _eager(self) -> bool:
        return bool(self.app.conf.task_always_eager)

    def clone(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> "Signature":
        clone = type(self).__new__(type(self))
        dict.__init__(clone, {**self, "options": {**self.options, **options}})
        clone._app, clone._type = self._app, None
        return clone

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:
        raise self._unavailable(f"({self._kind})")

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        raise self._unavailable(f"({self._kind})")


def _flatten(tasks: tuple) -> list:
    if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
        return list(tasks[0])
    return list(tasks)


class group(_Composition):  # noqa: N801 - Celery's name
    """Run tasks in parallel: each is sent (or, eager, run); ``get()`` on the result needs a result
    backend, except in eager mode."""

    _kind = "run tasks in parallel and collect their results"

    def __init__(self, *tasks: Any, app: "Celery | None" = None, **options: Any) -> None:
        super().__init__("celery.group", (), {"tasks": _flatten(tasks)}, options, subtask_type="group", app=app)

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:

        options = {**self.options, **options}
        group_id = options.pop("group_id", None) or options.pop("task_id", None) or str(uuid.uuid4())
        results = [
            task.apply_async(args, kwargs, group_id=group_id, **options) for task in self.tasks
        ]
        return GroupResult(group_id, results, app=self._app)

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:

        options = {**self.options, **options}
        group_id = options.pop("group_id", None) or options.pop("task_id", None) or str(uuid.uuid4())
        return GroupResult(group_id, [task.apply(args, kwargs, **options) for task in self.tasks], app=self._app)

    def __or__(self, other: Any) -> Any:
        if isinstance(other, Signature) and not isinstance(other, (group, chain)):
            return chord(self, other, app=self._app)
        if isinstance(other, (group, chain)):
            return chain(self, other, app=self._app)
        return NotImplemented


class chain(_Composition):  # noqa: N801 - Celery's name
    """Run tasks one after another, each getting the previous result as its first argument.

    Sent as ``link`` callbacks (each task carries the rest of the chain), so it needs no result backend.
    Returns the last task's result; eager mode runs it at once.
    """

    _kind = "run tasks one after another, passing results"

    def __init__(self, *tasks: Any, app: "Celery | None" = None, **options: Any) -> None:
        super().__init__("celery.chain", (), {"tasks": _flatten(tasks)}, options, subtask_type="chain", app=app)

    def __or__(self, other: Any) -> "chain":
        if isinstance(other, chain):
            return chain(*self.tasks, *other.tasks, app=self._app)
        if isinstance(other, Signature):
            return chain(*self.tasks, other, app=self._app)
        return NotImplemented

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:

        tasks = list(self.tasks)
        if not tasks:
            raise ValueError("chain() needs at least one task")
        if self._eager():
            return self.apply(args, kwargs, **options)
        if any(isinstance(task, _Composition) for task in tasks):
            raise self._unavailable("with a group or chord inside needs a result backend")
        options = {**self.options, **options}
        last_link, last_errbacks = options.pop("link", None), options.pop("link_error", None)
        # Build from the end: each task links to the next, which carries the rest.
        following: Signature | None = None
        ids: list[str] = []
        for position, task in enumerate(reversed(tasks)):
            step = task.clone()
            step.options.setdefault("task_id", str(uuid.uuid4()))
            if position == 0 and last_link:
                for callback in last_link if isinstance(last_link, (list, tuple)) else [last_link]:
                    step.link(callback)
            if last_errbacks:
                for errback in last_errbacks if isinstance(last_errbacks, (list, tuple)) else [last_errbacks]:
                    step.link_error(errback)
            if following is not None:
                step.link(following)
            following = step
            ids.append(step.options["task_id"])
        assert following is not None
        following.apply_async(args, kwargs, **options)
        result: AsyncResult | None = None
        for task_id in reversed(ids):  # first task first, so each result's parent is the one before
            result = AsyncResult(task_id, app=self._app, parent=result)
        return result

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        """Run every task here, in order (Celery's ``chain.apply``)."""
        options = {**self.options, **options}
        last = None
        first_args, first_kwargs = args, kwargs
        for task in self.tasks:
            partial = (last.get(),) if last is not None else first_args
            result = task.apply(partial, first_kwargs, **options)
            result.parent = last
            last, first_kwargs = result, None
        return last


class chord(_Composition):  # noqa: N801 - Celery's name
    """Run a group, then a body with the list of results. Outside eager mode this needs a result backend
    (a later release) and raises :class:`FeatureNotAvailable`."""

    _kind = "run a group, then a callback with all results"

    def __init__(self, header: Any, body: Any = None, app: "Celery | None" = None, **options: Any) -> None:
        header_tasks = list(header.tasks) if isinstance(header, group) else _flatten((header,)) if not isinstance(header, dict) else [header]
        super().__init__(
            "celery.chord", (), {"header": header_tasks, "body": body}, options, subtask_type="chord", app=app
        )

    @property
    def header(self) -> group:
        return group([maybe_signature(task, app=self._app) for task in self.kwargs.get("header", ())], app=self._app)

    @property
    def body(self) -> Signature | None:
        return maybe_signature(self.kwargs.get("body"), app=self._app)

    def __call__(self, body: Any = None, **options: Any) -> Any:
        """``chord(header)(body)``: Celery's call form."""
        if body is not None:
            return chord(self.header, body, app=self._app, **{**self.options, **options}).apply_async()
        return self.apply_async(**options)

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:
        if self._eager():
            return self.apply(args, kwargs, **options)
        raise self._unavailable("outside eager mode needs a result backend to collect the header's results")

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        body = self.body
        if body is None:
            raise ValueError("chord() needs a body")
        results = self.header.apply(args, kwargs, **options)
        return body.apply((results.get(),))


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


_COMPOSITIONS: dict[str, type[_Composition]] = {"group": group, "chain": chain, "chord": chord}
