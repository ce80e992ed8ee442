"""Making tasks and keeping them: ``@app.task``/``@shared_task`` bodies, names, and ``app.tasks``.

A task is an instance of its base class (``base=``, ``app.Task`` or :class:`~cfq_shim.task.Task`) whose
``run`` is the decorated function; Celery builds a class per task instead, which nothing here needs.
"""

from __future__ import annotations

import logging
import sys
import types
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Callable

from .conf import load_object
from .exceptions import DuplicateTaskNameWarning, ImproperlyConfigured, NotRegistered
from .local import get_current_app
from .task import Task, add_autoretry_behaviour

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery

__all__ = [
    "TaskRegistry", "gen_task_name", "make_task", "shared_task", "register_app", "warn_duplicate", "share_task",
    "build_shared_tasks",
]

logger = logging.getLogger("cfq_shim.app")

#: Task options Celery knows that the shim takes as attributes with no further checks.
_KNOWN_TASK_OPTIONS = frozenset({
    "name", "bind", "base", "queue", "ignore_result", "acks_late", "expires", "max_retries",
    "default_retry_delay", "autoretry_for", "dont_autoretry_for", "retry_kwargs", "retry_backoff",
    "retry_backoff_max", "retry_jitter", "time_limit", "soft_time_limit", "rate_limit", "serializer",
    "compression", "typing", "throws", "trail", "track_started", "priority", "reject_on_worker_lost",
    "acks_on_failure_or_timeout", "store_errors_even_if_ignored", "store_eager_result", "send_events",
    "resultrepr_maxsize", "shadow_name", "pydantic", "pydantic_strict", "pydantic_context",
    "pydantic_dump_kwargs", "lazy", "shared", "filter", "request_stack", "abstract", "exchange",
    "routing_key", "delivery_mode",
})

#: Tasks made by @shared_task, registered in every app (created before or after them).
_shared_tasks: list[Task] = []
_all_apps: "weakref.WeakSet[Celery]" = weakref.WeakSet()
#: ``@app.task`` functions with ``shared=True`` (Celery's default) and their options: every app builds its
#: own task from each (Celery's ``connect_on_app_finalize``), so ``-A otherapp`` sees them too.
_shared_constructors: list[tuple[Callable, dict[str, Any]]] = []


def gen_task_name(app: "Celery | None", name: str, module_name: str | None) -> str:
    """``module.function``; in ``__main__``, the app's ``main`` replaces the module (Celery's rule)."""
    module_name = module_name or "__main__"
    module = sys.modules.get(module_name)
    if module is not None:
        module_name = module.__name__
        if module_name == "__main__" and app is not None and app.main:
            return f"{app.main}.{name}"
    return ".".join(part for part in (module_name, name) if part)


_duplicates_warned: set[str] = set()


def warn_duplicate(name: str, existing: Task, fun: Callable) -> None:
    """Celery 5.7's rule: the first callable registered under a name keeps it; warn once per name."""
    if name in _duplicates_warned:
        return
    _duplicates_warned.add(name)
    first = getattr(existing, "__wrapped__", existing)
    warnings.warn(
        DuplicateTaskNameWarning(
            f"Task name {name!r} is already registered to a different callable.\n\n"
            f"Existing: {getattr(first, '__module__', '?')}.{getattr(first, '__qualname__', first)}\n"
            f"New:      {fun.__module__}.{fun.__qualname__}\n\n"
            "The new callable was not registered; calls under this name reach the callable registered first.\n\n"
            "Every task must have a unique name. Pass an explicit name= to the task decorator, or rename one "
            "of the callables."
        ),
        stacklevel=4,
    )


def _check_task_options(name: str, options: dict[str, Any]) -> None:
    serializer = options.get("serializer")
    if serializer not in (None, "json"):
        raise ImproperlyConfigured(
            f"Task {name!r}: serializer={serializer!r} is not supported. cfq_shim sends JSON only "
            "(Cloudflare Queues messages are text); remove the option or use 'json'."
        )
    unknown = sorted(set(options) - _KNOWN_TASK_OPTIONS)
    if unknown and logger.isEnabledFor(logging.DEBUG):
        logger.debug("Task %s: custom options %s set as task attributes", name, unknown)


def make_task(app: "Celery", fun: Callable, *, name: str | None, base: Any, bind: bool, options: dict[str, Any]) -> Task:
    if not callable(fun):
        raise TypeError(f"@task must decorate a callable, not {fun!r}")
    name = name or app.gen_task_name(fun.__name__, fun.__module__)
    _check_task_options(name, options)
    if isinstance(base, str):
        base = load_object(base)
    base = base or app.Task
    if not (isinstance(base, type) and issubclass(base, Task)):
        raise ImproperlyConfigured(f"Task {name!r}: base={base!r} is not a subclass of cfq_shim.Task")
    task = base()
    if "request_stack" not in task.__dict__:  # a subclass __init__ that skipped super().__init__()
        Task.__init__(task)
    task.name = name
    task.run = types.MethodType(fun, task) if bind else fun  # type: ignore[method-assign]
    task._bound_run = bool(bind)  # type: ignore[attr-defined]
    task.__wrapped__ = fun  # type: ignore[attr-defined]
    task.__doc__ = fun.__doc__
    task.__module__ = fun.__module__
    task.__name__ = fun.__name__  # type: ignore[attr-defined]
    task.__qualname__ = getattr(fun, "__qualname__", fun.__name__)  # type: ignore[attr-defined]
    for option in ("lazy", "shared", "filter"):
        options.pop(option, None)
    for option, value in options.items():
        setattr(task, option, value)
    task.bind(app)
    add_autoretry_behaviour(task)
    return task


class TaskRegistry(dict):
    """``app.tasks``: task name -> task. A missing name raises :class:`NotRegistered` (a KeyError)."""

    def __missing__(self, name: str) -> Task:
        raise NotRegistered(name)

    def register(self, task: Task) -> Task:
        self[task.name] = task
        return task

    def unregister(self, name: str | Task) -> None:
        name = name if isinstance(name, str) else name.name
        try:
            del self[name]
        except KeyError:
            raise NotRegistered(name) from None

    def regular(self) -> dict[str, Task]:
        return dict(self)

    def periodic(self) -> dict[str, Task]:
        return {}


def share_task(origin: "Celery", fun: Callable, options: dict[str, Any]) -> None:
    """``@app.task`` with ``shared=True``: build the task in every other app as well, as Celery does.

    Celery builds it when each app is finalized (an app finalized before the decorator runs never sees it);
    here an app already finalized builds it at once too, so a module imported late in a worker's start-up
    (the Django checks import views after the tasks modules) still registers its tasks.
    """
    _shared_constructors.append((fun, options))
    for app in list(_all_apps):
        if app is origin or not app._finalized:
            continue
        name = options.get("name") or app.gen_task_name(fun.__name__, fun.__module__)
        if name not in app._tasks:  # a task of its own under that name keeps it, without a warning
            app._task_from_fun(fun, **options)


def build_shared_tasks(app: "Celery") -> None:
    """Give a finalizing app its own task for every shared ``@app.task`` made so far (on any app)."""
    for fun, options in list(_shared_constructors):
        app._task_from_fun(fun, **options)


def register_app(app: "Celery") -> None:
    """Give a new app every shared task made so far, and the ones made later."""
    for task in _shared_tasks:
        app._tasks.setdefault(task.name, task)
    _all_apps.add(app)


def shared_task(*args: Any, **kwargs: Any) -> Any:
    """``@shared_task`` / ``@shared_task(...)``: a task for whichever app is current when it runs.

    It is registered in every app, those made before and after it; ``task.app`` is the current app.
    """

    def create(fun: Callable) -> Task:

        app = get_current_app()
        name = kwargs.get("name") or app.gen_task_name(fun.__name__, fun.__module__)
        for existing in _shared_tasks:
            if existing.name == name:
                if getattr(existing, "__wrapped__", None) is not fun:
                    warn_duplicate(name, existing, fun)
                return existing
        options = dict(kwargs)
        options.pop("name", None)
        base, bind = options.pop("base", None), options.pop("bind", False)
        task = make_task(app, fun, name=name, base=base, bind=bind, options=options)
        task._app = None  # resolves to the current app at each use
        _shared_tasks.append(task)
        for each in list(_all_apps):
            each._tasks[name] = task
        return task

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return create(args[0])
    if args:
        raise TypeError(f"argument 1 to @shared_task() must be a callable, not {args[0]!r}")
    return create
