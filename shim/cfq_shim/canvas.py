"""Signatures (``task.s()``, ``task.si()``, ``signature(...)``) and the canvas: chain, group, chord,
chunks, map and starmap, with Celery's semantics.

A :class:`Signature` is a dict (as in Celery), so it travels inside an envelope's ``callbacks`` as JSON.

- ``chain`` is sent as ``link`` callbacks: each step carries the rest. Nested chains are flattened and a
  group followed by another step becomes a chord, as in Celery.
- ``group`` sends its tasks in bulk pushes and returns a :class:`~cfq_shim.result.GroupResult`.
- ``chord`` saves the header's ids in the result backend and sends the header; the last header task to
  finish fires the body (:mod:`cfq_shim.chords`): no polling ``chord_unlock`` task.
- ``xmap``/``xstarmap`` run as the built-in ``celery.map``/``celery.starmap`` tasks, ``chunks`` as a group
  of ``celery.starmap`` tasks (:mod:`cfq_shim.builtins`).
- Eager mode (``task_always_eager`` or ``apply()``) runs all of them here with the same results.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Iterable

from .local import get_current_app
from .result import AsyncResult, GroupResult

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery
    from .task import Task

__all__ = ["Signature", "signature", "maybe_signature", "subtask", "group", "chain", "chord", "chunks", "xmap", "xstarmap"]

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

    def freeze(self, _id: str | None = None, group_id: str | None = None, **kwargs: Any) -> "AsyncResult":
        """Fix the task id (and group id) the call will have, and return its result."""
        task_id = self.options.setdefault("task_id", _id or str(uuid.uuid4()))
        if group_id and "group_id" not in self.options:
            self.options["group_id"] = group_id
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
        dict.__init__(clone, {**self, "kwargs": dict(self.kwargs), "options": {**self.options, **options}})
        clone._app, clone._type = self._app, None
        return clone


def _flatten(tasks: tuple) -> list:
    if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
        return list(tasks[0])
    return list(tasks)


def _as_list(value: Any) -> list:
    if not value:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _link(step: Signature, callback: Signature) -> None:
    """Make ``callback`` run after ``step``: on a chord, after its body."""
    if isinstance(step, chord):
        body = step.body.clone()
        body.link(callback)
        step.kwargs["body"] = body
    else:
        step.link(callback)


def _link_error(step: Signature, errback: Signature) -> None:
    if isinstance(step, chord):
        body = step.body.clone()
        body.link_error(errback)
        step.kwargs["body"] = body
    else:
        step.link_error(errback)


class group(_Composition):  # noqa: N801 - Celery's name
    """Run tasks in parallel. Sent as bulk pushes; the :class:`GroupResult` collects the results."""

    def __init__(self, *tasks: Any, app: "Celery | None" = None, **options: Any) -> None:
        super().__init__("celery.group", (), {"tasks": _flatten(tasks)}, options, subtask_type="group", app=app)

    def freeze(self, _id: str | None = None, group_id: str | None = None, **kwargs: Any) -> Any:
        """Fix the group's id and every member's task id; returns the GroupResult they will have."""
        group_id = self.options.setdefault("group_id", group_id or _id or str(uuid.uuid4()))
        members = [task.clone() for task in self.tasks]
        results = [member.freeze(group_id=group_id) for member in members]
        self.kwargs["tasks"] = members
        return GroupResult(group_id, results, app=self._app)

    @staticmethod
    def _group_id(options: dict) -> str:
        """The group's id (``group_id``, else ``task_id``, else new), taken out of the members' options."""
        group_id = options.pop("group_id", None)
        task_id = options.pop("task_id", None)
        return group_id or task_id or str(uuid.uuid4())

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:
        if self._eager():
            return self.apply(args, kwargs, **options)
        options = {**self.options, **options}
        group_id = self._group_id(options)
        app = self.app
        with app.sending_in_bulk():
            results = [task.apply_async(args, kwargs, group_id=group_id, **options) for task in self.tasks]
        return GroupResult(group_id, results, app=app)

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        options = {**self.options, **options}
        group_id = self._group_id(options)
        return GroupResult(group_id, [task.apply(args, kwargs, **options) for task in self.tasks], app=self._app)

    def __or__(self, other: Any) -> Any:
        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented


class chain(_Composition):  # noqa: N801 - Celery's name
    """Run tasks one after another, each getting the previous result as its first argument.

    Sent as ``link`` callbacks (each step carries the rest). Returns the last step's result, whose
    ``parent`` is the step before, as in Celery.
    """

    def __init__(self, *tasks: Any, app: "Celery | None" = None, **options: Any) -> None:
        flat: list = []
        for task in _flatten(tasks):
            task = maybe_signature(task, app=app)
            if isinstance(task, chain):
                # Celery flattens nested chains; their link_error moves onto each of their tasks.
                errbacks = _as_list(task.options.get("link_error"))
                for inner in task.tasks:
                    inner = inner.clone()
                    for errback in errbacks:
                        _link_error(inner, maybe_signature(errback, app=app))
                    flat.append(inner)
            else:
                flat.append(task)
        super().__init__("celery.chain", (), {"tasks": flat}, options, subtask_type="chain", app=app)

    def __or__(self, other: Any) -> "chain":
        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented

    def _steps(self) -> list[Signature]:
        """The tasks as Celery runs them: a group followed by another step is a chord with it as body."""
        steps: list[Signature] = []
        for task in self.tasks:
            if steps and isinstance(steps[-1], group):
                steps[-1] = chord(steps[-1], task, app=self._app)
            else:
                steps.append(task.clone())
        return steps

    def freeze(self, _id: str | None = None, group_id: str | None = None, **kwargs: Any) -> Any:
        """Fix every step's ids; returns the last step's result (parents linked)."""
        steps = self._steps()
        result = None
        for step in steps:
            frozen = step.freeze(group_id=group_id) if not isinstance(step, (group, chord)) else step.freeze()
            frozen.parent = result
            result = frozen
        self.kwargs["tasks"] = steps
        return result

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:
        if not self.kwargs.get("tasks"):
            raise ValueError("chain() needs at least one task")
        if self._eager():
            return self.apply(args, kwargs, **options)
        options = {**self.options, **options}
        last_links = _as_list(options.pop("link", None))
        errbacks = _as_list(options.pop("link_error", None))
        # A chain inside a chord header: the chord's bookkeeping belongs to its last task.
        tail_options = {key: options.pop(key) for key in ("chord", "chord_size", "group_id") if key in options}
        task_id = options.pop("task_id", None)
        steps = self._steps()
        results = []
        previous = None
        for position, step in enumerate(steps):
            is_last = position == len(steps) - 1
            if is_last and tail_options:
                step.options.update(tail_options)
            frozen = step.freeze(_id=task_id if is_last else None) if not isinstance(step, (group, chord)) else step.freeze()
            frozen.parent = previous
            previous = frozen
            results.append(frozen)
            for errback in errbacks:
                _link_error(step, maybe_signature(errback, app=self._app))
        for callback in last_links:
            _link(steps[-1], maybe_signature(callback, app=self._app))
        # Link from the end: each step carries the rest of the chain as its callback.
        for position in range(len(steps) - 2, -1, -1):
            _link(steps[position], steps[position + 1])
        steps[0].apply_async(args, kwargs, **options)
        return results[-1]

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        """Run every step here, in order (Celery's ``chain.apply``)."""
        options = {**self.options, **options}
        last = None
        first_args, first_kwargs = args, kwargs
        for step in self._steps():
            partial = (last.get(),) if last is not None else first_args
            result = step.apply(partial, first_kwargs, **options)
            result.parent = last
            last, first_kwargs = result, None
        return last


class chord(_Composition):  # noqa: N801 - Celery's name
    """Run a group (the header), then a body with the list of the header's results.

    Needs a result backend: the header's results are counted there (:mod:`cfq_shim.chords`). A failed
    header task fails the chord as in Celery: the body's ``link_error`` runs and the body does not.
    """

    def __init__(self, header: Any, body: Any = None, app: "Celery | None" = None, **options: Any) -> None:
        if isinstance(header, dict) and not isinstance(header, group) and header.get("subtask_type") == "group":
            header = maybe_signature(header, app=app)
        if isinstance(header, group):
            header_tasks = list(header.tasks)
        elif isinstance(header, dict):
            header_tasks = [header]
        else:
            header_tasks = _flatten((header,))
        super().__init__(
            "celery.chord", (), {"header": header_tasks, "body": body}, options, subtask_type="chord", app=app
        )

    @property
    def header(self) -> group:
        return group([maybe_signature(task, app=self._app) for task in self.kwargs.get("header", ())], app=self._app)

    @property
    def body(self) -> Signature | None:
        return maybe_signature(self.kwargs.get("body"), app=self._app)

    @property
    def tasks(self) -> tuple:
        return tuple(self.header.tasks)

    def __call__(self, body: Any = None, **options: Any) -> Any:
        """``chord(header)(body)``: Celery's call form."""
        if body is not None:
            return chord(self.header, body, app=self._app, **{**self.options, **options}).apply_async()
        return self.apply_async(**options)

    def freeze(self, _id: str | None = None, group_id: str | None = None, **kwargs: Any) -> Any:
        """Fix the header's and the body's ids; returns the body's result, whose parent is the header's."""
        header = self.header
        header_result = header.freeze(group_id=self.options.get("group_id"))
        self.options["group_id"] = header_result.id
        self.kwargs["header"] = list(header.tasks)
        body = self.body
        if body is None:
            raise ValueError("chord() needs a body")
        body = body.clone()
        body_result = body.freeze(_id=_id)
        self.kwargs["body"] = body
        body_result.parent = header_result
        return body_result

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:
        if self._eager():
            return self.apply(args, kwargs, **options)
        sending = self.clone()  # freezing writes ids: the chord itself can be sent again with new ones
        options = {**self.options, **options}
        for callback in _as_list(options.pop("link", None)):
            _link(sending, maybe_signature(callback, app=self._app))
        for errback in _as_list(options.pop("link_error", None)):
            _link_error(sending, maybe_signature(errback, app=self._app))
        if "group_id" in options:
            sending.options["group_id"] = options.pop("group_id")
        body_result = sending.freeze(_id=options.pop("task_id", None))
        header_result: GroupResult = body_result.parent
        app = self.app
        body = sending.body
        members = list(sending.header.tasks)
        # The header's ids, in order, so the last header task can read their results (and the chord fails
        # here, before anything is sent, when there is no result backend).
        app.backend.save_group(header_result.id, header_result)
        if not members:
            body.apply_async(([],))
            return body_result
        body_options = dict(body)
        with app.sending_in_bulk():
            for member in members:
                member.apply_async(args, kwargs, group_id=header_result.id, chord=body_options,
                                   chord_size=len(members), **options)
        return body_result

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        body = self.body
        if body is None:
            raise ValueError("chord() needs a body")
        results = self.header.apply(args, kwargs, **options)
        return body.apply((results.get(),))


class xmap(_Composition):  # noqa: N801 - Celery's name
    """``task.map(it)``: one ``celery.map`` task calls ``task(item)`` for each item, in order."""

    _builtin = "celery.map"
    _subtask_type = "xmap"

    def __init__(self, task: Any, it: Iterable, **options: Any) -> None:
        app = options.pop("app", None)
        super().__init__(self._builtin, (), {"task": dict(task), "it": [list(i) if isinstance(i, tuple) else i for i in it]},
                         options, subtask_type=self._subtask_type, immutable=True, app=app or getattr(task, "_app", None))

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:
        task = self.app.tasks[self._builtin]
        return task.apply_async((), dict(self.kwargs), **{**self.options, **options})

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        task = self.app.tasks[self._builtin]
        return task.apply((), dict(self.kwargs), **{**self.options, **options})


class xstarmap(xmap):  # noqa: N801 - Celery's name
    """``task.starmap(it)``: one ``celery.starmap`` task calls ``task(*item)`` for each item."""

    _builtin = "celery.starmap"
    _subtask_type = "xstarmap"


class chunks(_Composition):  # noqa: N801 - Celery's name
    """``task.chunks(it, n)``: a group of ``celery.starmap`` tasks of ``n`` items each."""

    def __init__(self, task: Any, it: Iterable, n: int, **options: Any) -> None:
        app = options.pop("app", None)
        super().__init__("celery.chunks", (), {"task": dict(task), "it": [list(i) for i in it], "n": int(n)}, options,
                         subtask_type="chunks", immutable=True, app=app or getattr(task, "_app", None))

    def group(self) -> group:
        task = maybe_signature(self.kwargs["task"], app=self._app)
        items, size = list(self.kwargs["it"]), self.kwargs["n"]
        if size < 1:
            raise ValueError("chunks() needs n >= 1")
        parts = [items[start:start + size] for start in range(0, len(items), size)]
        return group([xstarmap(task, part, app=self._app) for part in parts], app=self._app)

    def apply_async(self, args: Iterable | None = None, kwargs: dict | None = None, route_name: str | None = None, **options: Any) -> Any:
        return self.group().apply_async(args, kwargs, **{**self.options, **options})

    def apply(self, args: Iterable | None = None, kwargs: dict | None = None, **options: Any) -> Any:
        return self.group().apply(args, kwargs, **{**self.options, **options})


_COMPOSITIONS: dict[str, type[_Composition]] = {
    "group": group, "chain": chain, "chord": chord, "xmap": xmap, "xstarmap": xstarmap, "chunks": chunks,
}
