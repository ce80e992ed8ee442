"""A backend for Django's task framework (``django.tasks``, Django 6; or the ``django-tasks`` backport on
older Django, see :mod:`cfq_shim.django.framework`) that sends through a cfq_shim app.

Settings::

    TASKS = {
        "default": {
            "BACKEND": "cfq_shim.django.tasks.CloudflareQueuesBackend",
            "QUEUES": ["default", "emails"],          # the queue_name values Django accepts (default:
                                                      # only "default"; [] accepts any)
            "OPTIONS": {"APP": "proj.celery:app"},    # the app to send through; default: the current app
        },
    }

A project without an app of its own can name ``"cfq_shim.django.app:app"`` (configured from the
``CELERY_*`` settings) and run ``cfq-shim -A cfq_shim.django.app worker``.

**Sending.** ``enqueue()`` sends one message through the app's producer, as ``send_task`` does, under the
task's module path (``myapp.tasks.send_welcome``), so routes, rate limits, the dashboard and
``inspect`` see one name per Django task. ``queue_name="default"`` (Django's default) goes where the app
sends a task with no queue (``task_routes``, else ``task_default_queue``); any other name is the queue of
that name. ``run_after`` is the message's ETA: Cloudflare delays a message at most 24 h, and a worker
sends a message due later onward in hops, as for any ETA.

**Running.** Each Django task becomes a cfq_shim task of that name, in every app as with ``@shared_task``,
when Django builds it (``Task.__post_init__`` asks the backend to validate it), so ``cfq-shim -A proj
worker`` runs it once the module that defines it is imported there: ``app.autodiscover_tasks()`` imports each
installed app's ``tasks`` module; others go in ``include``. The worker calls ``Task.call()`` (so async
functions run too), passes a ``TaskContext`` to ``takes_context`` tasks, and sends Django's
``task_started`` / ``task_finished`` signals.

**Results** (``supports_get_result``) need the app's ``result_backend``: ``enqueue()`` then keeps a record
beside the task's meta (path, arguments, enqueue time, and each attempt's worker and time), and
``get_result()`` combines the two. Without a result backend, results cannot be read and ``get_result()``
raises ``NotImplementedError``, as Django's base backend does.

**Priorities** are not supported (Cloudflare Queues has none): Django itself then refuses a task with a
priority other than 0 (``InvalidTask``).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone as dt_timezone
from traceback import format_exception
from typing import Any

from django.utils import timezone
from django.utils.module_loading import import_string

from .. import states
from ..backend import DisabledBackend
from ..conf import load_object
from ..local import get_current_app, is_fallback_app
from ..registry import shared_task
from ..results.base import ResultBackend
from ..sending.message import new_task_id
from ..task import Task as ShimTask
from .framework import (
    DEFAULT_TASK_QUEUE_NAME, BaseTaskBackend, InvalidTask, InvalidTaskBackend, Task, TaskContext, TaskError, TaskResult,
    TaskResultDoesNotExist, TaskResultStatus, normalize_json, task_backends, task_enqueued, task_finished, task_started,
)

__all__ = ["CloudflareQueuesBackend", "DjangoTaskRunner", "RECORD_KIND", "register", "run_django_task"]

logger = logging.getLogger("cfq_shim.django.tasks")

#: The result-backend record kind under which each enqueued task's Django-side facts are kept.
RECORD_KIND = "django-task"
#: The message header with what the worker needs to rebuild the enqueued ``Task``: the ``TASKS`` alias,
#: ``queue_name`` and ``run_after`` it was enqueued with (``Task.using()``).
TASK_HEADER = "django_task"

#: The shim's states, as Django's. A custom state a task reports with ``update_state`` means it runs.
_STATUS = {
    states.PENDING: TaskResultStatus.READY,
    states.RECEIVED: TaskResultStatus.READY,
    states.RETRY: TaskResultStatus.READY,  # "ready to be executed again"
    states.STARTED: TaskResultStatus.RUNNING,
    states.SUCCESS: TaskResultStatus.SUCCESSFUL,
    states.FAILURE: TaskResultStatus.FAILED,
    states.REVOKED: TaskResultStatus.FAILED,  # "unable to start"
    states.REJECTED: TaskResultStatus.FAILED,
}


class CloudflareQueuesBackend(BaseTaskBackend):
    """``django.tasks`` backend: Django tasks run on a cfq_shim app's queues and ``cfq-shim`` worker."""

    supports_defer = True
    supports_async_task = True  # the worker runs coroutine functions through Task.call (async_to_sync)
    supports_priority = False  # Cloudflare Queues has no priorities

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._app_spec = self.options.get("APP")
        unknown = sorted(set(self.options) - {"APP"})
        if unknown:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown keys {unknown}; the one option is 'APP' "
                "(the cfq_shim app to send through, e.g. 'proj.celery:app')"
            )
        if self._app_spec is not None and not isinstance(self._app_spec, str):
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}]['OPTIONS']['APP'] must be a dotted path such as 'proj.celery:app', "
                f"not {type(self._app_spec).__name__}"
            )
        self._app: Any = None

    # -- the app ------------------------------------------------------------------------------------------
    @property
    def app(self) -> Any:
        """The cfq_shim app this backend sends through: ``OPTIONS["APP"]``, else the current app."""
        if self._app is None:
            if self._app_spec is None:
                app = get_current_app()
                if is_fallback_app(app):
                    # Celery's Django guide has proj/__init__.py import the app; without it (or APP), the
                    # messages would go to an unconfigured default broker that no worker of the project reads.
                    raise InvalidTaskBackend(
                        f"TASKS[{self.alias!r}] has no OPTIONS['APP'] and this process has created no cfq_shim "
                        "app, so there is nothing configured to send through: set "
                        f"TASKS[{self.alias!r}]['OPTIONS']['APP'] = 'proj.celery:app' (the project's app), or "
                        "'cfq_shim.django.app:app' in a project without one, or import the app in "
                        "proj/__init__.py as Celery's Django guide does")
                self._app = app
            else:
                try:
                    self._app = load_object(self._app_spec)
                except (ImportError, AttributeError, ValueError) as exc:
                    raise InvalidTaskBackend(
                        f"TASKS[{self.alias!r}]['OPTIONS']['APP'] = {self._app_spec!r} cannot be imported: {exc}"
                    ) from exc
            if not hasattr(self._app, "send_task") or not hasattr(self._app, "register_task"):
                raise InvalidTaskBackend(
                    f"TASKS[{self.alias!r}]['OPTIONS']['APP'] = {self._app_spec!r} is not a cfq_shim app "
                    f"(got {type(self._app).__name__})"
                )
        return self._app

    def _store(self) -> ResultBackend | None:
        backend = self.app.backend
        return None if isinstance(backend, DisabledBackend) else backend.store

    @property  # type: ignore[override]  # Django declares it as a class attribute; it depends on the app here
    def supports_get_result(self) -> bool:
        """True when the app has a ``result_backend`` (results are kept there)."""
        return self._store() is not None

    # -- Django's API -------------------------------------------------------------------------------------
    def validate_task(self, task: Task) -> None:
        """Django's checks, then make the task a cfq_shim task, so a worker that imports it runs it."""
        super().validate_task(task)
        register(task.module_path)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        _check_reachable(task)
        task_id = new_task_id()
        result = TaskResult(
            task=task, id=task_id, status=TaskResultStatus.READY, enqueued_at=timezone.now(),
            started_at=None, finished_at=None, last_attempted_at=None, args=args, kwargs=kwargs,
            backend=self.alias, errors=[], worker_ids=[],
        )  # normalizes args and kwargs to JSON as Django does (a TypeError names what cannot be carried)
        store = self._store()
        if store is not None:
            # Written before the send, so that a worker which starts at once finds it.
            store.put_record(RECORD_KIND, task_id, _record(result), expires_seconds=self.app.backend.expires)
        try:
            self.app.send_task(
                task.module_path, result.args, result.kwargs, task_id=task_id,
                queue=None if task.queue_name == DEFAULT_TASK_QUEUE_NAME else task.queue_name,
                eta=_aware(task.run_after), headers={TASK_HEADER: {
                    "backend": self.alias, "queue_name": task.queue_name, "run_after": _iso(task.run_after),
                }},
            )
        except BaseException:
            if store is not None:
                store.delete_record(RECORD_KIND, task_id)
            raise
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        store = self._store()
        if store is None:
            raise NotImplementedError(
                f"TASKS[{self.alias!r}]: results cannot be read because the cfq_shim app has no result_backend; "
                "set one (e.g. CELERY_RESULT_BACKEND = 'sqlite:///.cfq-shim/results.sqlite3')"
            )
        record = store.get_record(RECORD_KIND, result_id)
        if record is None:
            raise TaskResultDoesNotExist(result_id)
        return _result_from(record, result_id, store.get_meta(result_id))

    def check(self, **kwargs: Any) -> list:
        from django.core.checks import Error

        try:
            self.app
        except InvalidTaskBackend as exc:
            return [Error(str(exc), id="cfq_shim.E001")]
        return []


# -- the record kept beside the meta --------------------------------------------------------------------
def _record(result: TaskResult) -> dict[str, Any]:
    task = result.task
    return {
        "task": task.module_path,
        "backend": result.backend,
        "queue_name": task.queue_name,
        "priority": task.priority,
        "run_after": _iso(task.run_after),
        "args": result.args,
        "kwargs": result.kwargs,
        "enqueued_at": _iso(result.enqueued_at),
        "attempts": [],
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _aware(moment).isoformat()


def _aware(moment: datetime | None) -> datetime | None:
    """``run_after`` as an aware datetime: naive ones are in Django's ``TIME_ZONE`` (``USE_TZ = False``)."""
    if moment is None or timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment, timezone.get_default_timezone())


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt_timezone.utc)


def _check_reachable(task: Task) -> None:
    """The worker finds a task by its module path: refuse to send one that is not there (a function
    wrapped as ``task(f)`` under another name leaves the bare function at the path)."""
    try:
        found = import_string(task.module_path)
    except ImportError:
        found = None
    if not isinstance(found, Task) or found.func is not task.func:
        raise InvalidTask(
            f"Task {task.module_path!r} cannot be found at its module path, where the worker looks it up: "
            "decorate the module-level function with @task (so its name is the Task), not a copy of it"
        )


def _task_from(record: dict[str, Any]) -> Task:
    path = record["task"]
    try:
        task = import_string(path)
    except ImportError as exc:
        raise ValueError(f"Expected {path!r} to point to a Task instance ({exc}).") from exc
    if not isinstance(task, Task):
        raise ValueError(f"Expected {path!r} to point to a Task instance, not {type(task).__name__}.")
    run_after = _parse(record.get("run_after"))
    enqueued_as = {
        "priority": record.get("priority"), "queue_name": record.get("queue_name"),
        "backend": record.get("backend"), "run_after": None if run_after is None else _for_django(run_after),
    }
    changes = {name: value for name, value in enqueued_as.items() if value is not None and value != getattr(task, name)}
    # The module-level task itself when it was enqueued as it is (the common case: no copy to validate).
    return task.using(**changes) if changes else task


def _for_django(moment: datetime) -> datetime:
    """An aware datetime as Django shows it: aware with ``USE_TZ``, naive local time without."""
    from django.conf import settings

    return moment if settings.USE_TZ else timezone.make_naive(moment, timezone.get_default_timezone())


def _result_from(record: dict[str, Any], result_id: str, meta: dict[str, Any] | None) -> TaskResult:
    state = (meta or {}).get("status") or states.PENDING
    status = _STATUS.get(state, TaskResultStatus.RUNNING)
    attempts = record.get("attempts") or []
    if state == states.PENDING and attempts:  # a worker started it (its attempt is recorded), no outcome yet
        status = TaskResultStatus.RUNNING
    errors = []
    if status == TaskResultStatus.FAILED and meta is not None:
        errors.append(_error_from(meta))
    result = TaskResult(
        task=_task_from(record),
        id=result_id,
        status=status,
        enqueued_at=_shown(record.get("enqueued_at")),
        started_at=_shown(attempts[0]["at"]) if attempts else None,
        finished_at=_shown(meta.get("date_done")) if meta and status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED) else None,
        last_attempted_at=_shown(attempts[-1]["at"]) if attempts else None,
        args=record.get("args") or [],
        kwargs=record.get("kwargs") or {},
        backend=record.get("backend") or "",
        errors=errors,
        worker_ids=[attempt["worker"] for attempt in attempts],
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", meta.get("result") if meta else None)
    return result


def _shown(text: str | None) -> datetime | None:
    moment = _parse(text)
    return None if moment is None else _for_django(moment)


def _error_from(meta: dict[str, Any]) -> TaskError:
    """Django's ``TaskError`` for a failed meta: the exception's class path and the traceback."""
    exc = meta.get("result")
    if isinstance(exc, dict) and "exc_type" in exc:
        path = f"{exc.get('exc_module') or 'builtins'}.{exc['exc_type']}"
    else:
        path = "builtins.Exception"
    return TaskError(exception_class_path=path, traceback=meta.get("traceback") or "")


# -- the worker side ------------------------------------------------------------------------------------
class DjangoTaskRunner(ShimTask):
    """The base of the cfq_shim task a worker runs for a Django task (its name: the task's module path)."""

    typing = False  # Django checks nothing either; the function's own signature does when it is called
    # RUNNING comes from the attempt the task records as it starts (one write, not a STARTED meta as well)
    track_started = False
    ignore_result = False  # get_result() reads the meta


def run_django_task(self: DjangoTaskRunner, *args: Any, **kwargs: Any) -> Any:
    """Run the Django task named ``self.name``, as Django's ImmediateBackend runs one.

    The task is looked up by its path when it runs (the module-level ``Task``), as Django's own
    ``Task`` pickling does, so the function that runs is the one the worker's code defines.
    """
    request = self.request
    enqueued_as = (request.headers or {}).get(TASK_HEADER) or getattr(request, TASK_HEADER, None) or {}
    django_task = _task_from({**enqueued_as, "task": self.name})
    backend = task_backends[django_task.backend]
    worker, now = request.hostname or "", datetime.now(dt_timezone.utc)
    record = _record_attempt(backend, request.id, worker, now)
    result = TaskResult(
        task=django_task, id=request.id, status=TaskResultStatus.RUNNING,
        enqueued_at=_shown(record.get("enqueued_at")) if record else None,
        started_at=_shown(record["attempts"][0]["at"]) if record else _for_django(now), finished_at=None,
        last_attempted_at=_for_django(now), args=list(args), kwargs=dict(kwargs), backend=django_task.backend,
        errors=[], worker_ids=[attempt["worker"] for attempt in record["attempts"]] if record else [worker],
    )
    task_started.send(type(backend), task_result=result)
    try:
        if django_task.takes_context:
            value = django_task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = django_task.call(*args, **kwargs)
        value = normalize_json(value)
    except KeyboardInterrupt:  # as Django's ImmediateBackend: not the task's failure
        raise
    except BaseException as exc:
        object.__setattr__(result, "finished_at", timezone.now())
        object.__setattr__(result, "status", TaskResultStatus.FAILED)
        result.errors.append(TaskError(
            exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
            traceback="".join(format_exception(exc)),
        ))
        task_finished.send(type(backend), task_result=result)
        raise
    object.__setattr__(result, "finished_at", timezone.now())
    object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(result, "_return_value", value)
    task_finished.send(type(backend), task_result=result)
    return value


def _record_attempt(backend: Any, task_id: str, worker: str, now: datetime) -> dict[str, Any] | None:
    """Add this attempt (worker, time) to the task's record; None when results are not kept."""
    store = backend._store() if isinstance(backend, CloudflareQueuesBackend) else None
    if store is None:
        return None
    record = store.get_record(RECORD_KIND, task_id)
    if record is None:  # expired (result_expires), or sent by something other than enqueue()
        return None
    record.setdefault("attempts", []).append({"worker": worker, "at": now.isoformat()})
    try:
        store.put_record(RECORD_KIND, task_id, record, expires_seconds=backend.app.backend.expires)
    except Exception:  # noqa: BLE001 - bookkeeping must not stop the task from running
        logger.exception("Task %s: could not record the attempt in the result backend", task_id)
    return record


_registered: set[str] = set()
_registered_lock = threading.Lock()


def register(name: str) -> None:
    """Make ``name`` (a Django task's module path) a cfq_shim task in every app, as ``@shared_task`` does,
    so the worker of whichever app consumes the queue runs it. Once per name."""
    with _registered_lock:
        if name not in _registered:
            shared_task(name=name, base=DjangoTaskRunner, bind=True)(run_django_task)
            _registered.add(name)
