"""``Task``: what ``@app.task`` makes, with Celery's attributes, calling API and hooks.

A task is an instance of ``Task`` (or of the ``base=`` class / ``app.Task``) whose ``run`` is the
decorated function. Subclass it as in Celery: override ``before_start``, ``on_success``,
``on_failure``, ``on_retry``, ``after_return`` or ``__call__``; the worker and eager mode call them in
Celery's order (see :mod:`cfq_shim.execution`).
"""

from __future__ import annotations

import inspect
import keyword
import threading
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable

from . import states
from .canvas import Signature, chunks, xmap, xstarmap
from .exceptions import Ignore, MaxRetriesExceededError, NotRegistered, Reject, Retry
from .execution import default_hook, trace
from .local import get_current_app, get_current_worker_task, pop_task, push_task
from .request import Context
from .result import AsyncResult, EagerResult

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery

__all__ = ["Task", "Context"]


class RequestStack(threading.local):
    """The requests a task is executing on this thread (nested when a task calls itself)."""

    def __init__(self) -> None:
        self.stack: list[Context] = []

    def push(self, request: Context) -> None:
        self.stack.append(request)

    def pop(self) -> Context:
        return self.stack.pop()

    @property
    def top(self) -> Context | None:
        stack = self.stack
        return stack[-1] if stack else None


def _raise_with_context(exc: BaseException) -> None:
    """Raise ``exc``; inside an except block, chain it to the exception being handled (Celery's way)."""
    import sys

    current = sys.exc_info()[1]
    if current is None:
        raise exc
    if current is exc:
        raise
    raise exc from current


def _backoff_seconds(factor: int, retries: int, maximum: int, full_jitter: bool) -> int:
    """Celery's exponential backoff: ``min(maximum, factor * 2**retries)``, optionally full jitter."""
    import random

    countdown = min(maximum, factor * (2 ** retries))
    if full_jitter:
        countdown = random.randrange(countdown + 1)
    return max(0, countdown)


def _accept_anything(*args: Any, **kwargs: Any) -> None:
    """The argument check of a task whose signature cannot be read."""


def _argument_checker(function: Callable[..., Any]) -> Callable[..., None] | None:
    """A do-nothing function with ``function``'s parameters (defaults replaced by a marker), as Celery's
    ``head_from_fun`` builds one: calling it checks a call's arguments with Python's own rules and
    Celery's messages ("add() missing 1 required positional argument: 'y'"), at a fraction of the cost
    of ``inspect.Signature.bind`` on every ``.delay()``. None when the signature cannot be read."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    kinds = inspect.Parameter
    parts: list[str] = []
    slash_pending = star_written = False
    for parameter in signature.parameters.values():
        name, kind = parameter.name, parameter.kind
        default = "=_default" if parameter.default is not kinds.empty else ""
        if kind is kinds.POSITIONAL_ONLY:
            parts.append(name + default)
            slash_pending = True
            continue
        if slash_pending:
            parts.append("/")
            slash_pending = False
        if kind is kinds.POSITIONAL_OR_KEYWORD:
            parts.append(name + default)
        elif kind is kinds.VAR_POSITIONAL:
            parts.append("*" + name)
            star_written = True
        elif kind is kinds.KEYWORD_ONLY:
            if not star_written:
                parts.append("*")
                star_written = True
            parts.append(name + default)
        else:
            parts.append("**" + name)
    if slash_pending:
        parts.append("/")
    function_name = getattr(function, "__name__", "")
    if not function_name.isidentifier() or keyword.iskeyword(function_name):
        function_name = "task"
    namespace: dict[str, Any] = {"_default": None}
    exec(f"def {function_name}({', '.join(parts)}):\n    pass\n", namespace)  # noqa: S102 - names from a real signature
    return namespace[function_name]


class Task:
    """A task type. Class attributes are the defaults; ``@app.task(...)`` options override them."""

    #: Full name, e.g. ``proj.tasks.add``; set from the function when not given.
    name: str | None = None
    #: The app this task belongs to; None for a ``@shared_task`` (then it is the current app).
    _app: "Celery | None" = None
    #: Check call arguments against the function's signature when sending (as Celery).
    typing: bool = True
    max_retries: int | None = 3
    default_retry_delay: float = 3 * 60
    rate_limit: str | None = None
    ignore_result: bool | None = None
    store_errors_even_if_ignored: bool | None = None
    store_eager_result: bool | None = None
    serializer: str | None = None
    compression: str | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    track_started: bool | None = None
    acks_late: bool | None = None
    acks_on_failure_or_timeout: bool | None = None
    reject_on_worker_lost: bool | None = None
    priority: int | None = None
    queue: str | None = None
    expires: float | Any = None
    throws: tuple = ()
    trail: bool = True
    send_events: bool = True
    resultrepr_maxsize: int = 1024
    autoretry_for: tuple = ()
    dont_autoretry_for: tuple = ()
    retry_kwargs: dict = {}
    retry_backoff: bool | int = False
    retry_backoff_max: int = 600
    retry_jitter: bool = True
    abstract: bool = False

    #: (attribute, setting) pairs taken from ``app.conf`` when the task leaves them unset (Celery's).
    from_config: tuple[tuple[str, str], ...] = (
        ("serializer", "task_serializer"),
        ("rate_limit", "task_default_rate_limit"),
        ("priority", "task_default_priority"),
        ("track_started", "task_track_started"),
        ("acks_late", "task_acks_late"),
        ("acks_on_failure_or_timeout", "task_acks_on_failure_or_timeout"),
        ("reject_on_worker_lost", "task_reject_on_worker_lost"),
        ("ignore_result", "task_ignore_result"),
        ("store_eager_result", "task_store_eager_result"),
        ("store_errors_even_if_ignored", "task_store_errors_even_if_ignored"),
        ("time_limit", "task_time_limit"),
        ("soft_time_limit", "task_soft_time_limit"),
    )

    MaxRetriesExceededError = MaxRetriesExceededError
    Request = Context

    def __init__(self) -> None:
        self.request_stack = RequestStack()
        self._default_request: Context | None = None
        #: Checks a call's arguments against ``run``'s parameters (built on first use).
        self._argument_checker: Callable[..., None] | None = None

    # -- binding ----------------------------------------------------------------------------------
    @property
    def app(self) -> "Celery":
        app = self._app
        if app is None:

            return get_current_app()
        return app

    def bind(self, app: "Celery") -> "Celery":
        """Attach to ``app`` and fill unset options from its settings. While a ``config_from_object``
        source is unread (Django still importing), that waits for the app's finalize, as in Celery."""
        self._app = app
        if not app.conf.has_unread_sources:
            self._configure_from(app)
        self.on_bound(app)
        return app

    def _configure_from(self, app: "Celery") -> None:
        conf = app.conf
        unset = self.__dict__.setdefault("_from_config_attrs", set())
        for attribute, setting in self.from_config:
            if attribute in unset or getattr(self, attribute, None) is None:
                setattr(self, attribute, conf.get(setting))
                unset.add(attribute)

    @classmethod
    def on_bound(cls, app: "Celery") -> None:
        """Called when the task is bound to an app (override to configure)."""

    # -- the body ---------------------------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The body of the task (the decorated function)."""
        raise NotImplementedError("Tasks must define the run method.")

    @default_hook
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task in this process, as a plain call (``request.called_directly`` is True)."""
        push_task(self)
        self.push_request(args=args, kwargs=kwargs)
        try:
            return self.run(*args, **kwargs)
        finally:
            self.pop_request()
            pop_task()

    # -- request ----------------------------------------------------------------------------------
    @property
    def request(self) -> Context:
        request = self.request_stack.top
        if request is None:
            if self._default_request is None:
                self._default_request = Context()
            return self._default_request
        return request

    def push_request(self, *args: Any, **kwargs: Any) -> None:
        self.request_stack.push(Context(*args, **{**self.request.__dict__, **kwargs}))

    def pop_request(self) -> None:
        self.request_stack.pop()

    # -- calling ----------------------------------------------------------------------------------
    def delay(self, *args: Any, **kwargs: Any) -> "AsyncResult":
        """Send the task with these arguments (``apply_async(args, kwargs)``)."""
        return self.apply_async(args, kwargs)

    def _check_arguments(self, args: Iterable, kwargs: dict) -> None:
        checker = self._argument_checker
        if checker is None:
            checker = self._argument_checker = _argument_checker(self.run) or _accept_anything
        try:
            checker(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(str(exc)) from None

    def apply_async(
        self,
        args: Iterable | None = None,
        kwargs: dict | None = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> "AsyncResult":
        """Send the task: ``countdown``/``eta``, ``expires``, ``queue``, ``headers``, ``link``... as Celery.

        With ``task_always_eager`` it runs here instead (``apply``). ``priority``, ``exchange`` and
        ``routing_key`` are accepted and have no effect (Cloudflare Queues has none of them).
        """
        app = self.app
        if self.typing and isinstance(args or (), (list, tuple)) and isinstance(kwargs or {}, dict):
            self._check_arguments(args or (), kwargs or {})
        if app.always_eager():
            return self.apply(args, kwargs, task_id=task_id or str(uuid.uuid4()), link=link, link_error=link_error, **options)
        if self.queue is not None and "queue" not in options:
            options["queue"] = self.queue
        if self.expires is not None and "expires" not in options:
            options["expires"] = self.expires
        if self.time_limit is not None and "time_limit" not in options:
            options["time_limit"] = self.time_limit
        if self.soft_time_limit is not None and "soft_time_limit" not in options:
            options["soft_time_limit"] = self.soft_time_limit
        return app.send_task(
            self.name, args, kwargs, task_id=task_id, link=link, link_error=link_error, task_type=self, **options
        )

    def apply(
        self,
        args: Iterable | None = None,
        kwargs: dict | None = None,
        link: Any = None,
        link_error: Any = None,
        task_id: str | None = None,
        retries: int | None = None,
        throw: bool | None = None,
        logfile: str | None = None,
        loglevel: int | None = None,
        headers: dict | None = None,
        **options: Any,
    ) -> "EagerResult":
        """Run the task here, now, as a worker would (hooks, signals, retries), and return an EagerResult.

        ``throw`` (default: ``task_eager_propagates``) re-raises the task's exception.
        """

        app = self.app
        args = tuple(args or ())
        kwargs = dict(kwargs or {})
        task_id = task_id or str(uuid.uuid4())
        retries = retries or 0
        if throw is None:
            throw = app.conf.task_eager_propagates
        parent = get_current_worker_task()
        if parent is not None:
            parent_id = parent.request.id
            root_id = parent.request.root_id or task_id
        else:
            parent_id, root_id = None, task_id
        task = app.tasks[self.name]
        request = Context(
            id=task_id,
            task=self.name,
            args=args,
            kwargs=kwargs,
            parent_id=parent_id,
            root_id=root_id,
            retries=retries,
            is_eager=True,
            called_directly=False,
            logfile=logfile,
            loglevel=loglevel or 0,
            hostname=app.hostname,
            callbacks=_as_list(link),
            errbacks=_as_list(link_error),
            headers=headers,
            timelimit=None if self.time_limit is None and self.soft_time_limit is None else [self.time_limit, self.soft_time_limit],
            ignore_result=options.get("ignore_result", self.ignore_result),
            delivery_info={
                "is_eager": True,
                "exchange": options.get("exchange"),
                "routing_key": options.get("routing_key"),
                "priority": options.get("priority"),
            },
        )
        result = trace(task, request, eager=True, propagate=throw)
        retval = result.retval
        if isinstance(retval, Retry) and retval.sig is not None:
            return retval.sig.apply(retries=retries + 1)
        return EagerResult(task_id, retval, result.state, traceback=result.einfo.traceback if result.einfo else None, name=self.name)

    # -- retrying ---------------------------------------------------------------------------------
    def signature_from_request(self, request: Context | None = None, args: Any = None, kwargs: Any = None, queue: str | None = None, **extra_options: Any) -> Signature:
        request = self.request if request is None else request
        args = request.args if args is None else args
        kwargs = request.kwargs if kwargs is None else kwargs
        options: dict[str, Any] = {
            "task_id": request.id,
            "link": request.callbacks,
            "link_error": request.errbacks,
            "group_id": request.group,
            "headers": request.headers,
            "root_id": request.root_id,
            "parent_id": request.parent_id,
            "ignore_result": request.ignore_result,
        }
        if request.timelimit and any(limit is not None for limit in request.timelimit):
            options["time_limit"], options["soft_time_limit"] = request.timelimit
        if request.expires:
            options["expires"] = request.expires
        delivery_info = request.delivery_info or {}
        if queue:
            options["queue"] = queue
        elif delivery_info.get("routing_key"):
            options["queue"] = delivery_info["routing_key"]
        options.update(extra_options)
        return Signature(self.name, args, kwargs, options, type=self)

    subtask_from_request = signature_from_request

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Retry the task later. Raises :class:`Retry` (unless ``throw=False``), as Celery does.

        Past ``max_retries`` it raises ``exc`` (or :class:`MaxRetriesExceededError`) instead. Called
        outside a worker (a direct call), it raises ``exc`` (or ``Retry``) at once.
        """
        request = self.request
        retries = request.retries + 1
        if max_retries is not None:
            self.override_max_retries = max_retries
        max_retries = self.max_retries if max_retries is None else max_retries
        if request.called_directly:
            _raise_with_context(exc or Retry("Task can be retried", None))
        if not eta and countdown is None:
            countdown = self.default_retry_delay
        args, kwargs = self._merge_retry_arguments(request, args, kwargs)
        is_eager = request.is_eager
        sig = self.signature_from_request(request, args, kwargs, countdown=countdown, eta=eta, retries=retries, **options)
        if max_retries is not None and retries > max_retries:
            if exc:
                _raise_with_context(exc)
            raise self.MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{sig.args} kwargs:{sig.kwargs}",
                task_args=sig.args, task_kwargs=sig.kwargs,
            )
        ret = Retry(exc=exc, when=eta or countdown, is_eager=is_eager, sig=sig)
        if is_eager or throw:
            # In a worker the Retry carries the next call; execution turns it into RetryLater and the
            # worker sends it (one ack call per batch). In eager mode apply() runs it.
            if throw:
                raise ret
            return ret
        try:
            sig.apply_async()
        except Exception as send_error:
            raise Reject(send_error, requeue=False) from send_error
        return ret

    def _merge_retry_arguments(self, request: Context, args: Any, kwargs: Any) -> tuple[Any, Any]:
        """Explicit ``args`` or ``kwargs`` given to retry keep the inherited ones that do not conflict
        with the new calling convention (Celery 5.7, celery#6494)."""
        if not ((args is not None and kwargs is None and request.kwargs) or (kwargs is not None and args is None and request.args)):
            return args, kwargs
        try:
            signature = inspect.signature(self.run)
        except (TypeError, ValueError):
            return args, kwargs
        if args is not None:
            positional = [
                p for p in signature.parameters.values()
                if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            ]
            kwargs = dict(request.kwargs)
            for parameter in positional[: len(args)]:
                if parameter.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD:
                    kwargs.pop(parameter.name, None)
            return args, kwargs
        try:
            bound = signature.bind_partial(*request.args)
        except TypeError:
            return args, kwargs
        kwargs = dict(kwargs)
        for name in list(kwargs):
            if name in bound.arguments and signature.parameters[name].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD:
                bound.arguments[name] = kwargs.pop(name)
        return bound.args, {**bound.kwargs, **kwargs}

    # -- building signatures ------------------------------------------------------------------------
    def signature(self, args: Any = None, *starargs: Any, **starkwargs: Any) -> Signature:
        starkwargs.setdefault("app", self._app)
        return Signature(self, args, *starargs, **starkwargs)

    subtask = signature

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature with these arguments: ``add.s(2, 2)``."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature (a parent's result is not prepended)."""
        return self.signature(args, kwargs, immutable=True)

    def chunks(self, it: Iterable, n: int) -> Any:

        return chunks(self.s(), it, n)

    def map(self, it: Iterable) -> Any:

        return xmap(self.s(), it)

    def starmap(self, it: Iterable) -> Any:

        return xstarmap(self.s(), it)

    def AsyncResult(self, task_id: str, **kwargs: Any) -> "AsyncResult":  # noqa: N802 - Celery's name

        kwargs.setdefault("backend", self._backend if self._backend is not None and not isinstance(self._backend, str) else None)
        return AsyncResult(task_id, task_name=self.name, app=self._app, **kwargs)

    # -- hooks (Celery's signatures; the defaults do nothing) ------------------------------------------
    @default_hook
    def before_start(self, task_id: str, args: tuple, kwargs: dict) -> None:
        """Before the task runs (after ``task_prerun``)."""

    @default_hook
    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict) -> None:
        """After the task returned."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        """After the task raised (and will not be retried)."""

    def on_retry(self, exc: BaseException | None, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        """After the task asked to be retried."""

    @default_hook
    def after_return(self, status: str, retval: Any, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        """After every run that did not end in Ignore or Reject."""

    def update_state(self, task_id: str | None = None, state: str | None = None, meta: Any = None, **kwargs: Any) -> None:
        """Store a state (custom ones too: ``state='PROGRESS', meta={'done': 3}``) for this call, or for
        ``task_id``; ``AsyncResult(id).state``/``.info`` read it from any process."""
        if task_id is None:
            task_id = self.request.id
        self.backend.store_result(task_id, meta, state, request=self.request, **kwargs)

    def send_event(self, type_: str, retry: bool = True, retry_policy: Any = None, **fields: Any) -> None:
        """Celery's task events are not sent by cfq_shim (no event stream); accepted and ignored."""

    # -- misc -------------------------------------------------------------------------------------
    #: A per-task result backend (``@app.task(backend=...)``); None: the app's.
    _backend: Any = None

    @property
    def backend(self) -> Any:
        """The result backend this task stores into: its own, else the app's (``app.backend``)."""
        backend = self._backend
        if backend is None:
            return self.app.backend
        if isinstance(backend, str):  # a URL: opened once, on first use
            backend = self._backend = self.app.open_backend(backend)
        return backend

    @backend.setter
    def backend(self, value: Any) -> None:
        self._backend = value

    def __repr__(self) -> str:
        return f"<@task: {self.name} of {self._app.main if self._app else 'current app'}>"

    def __reduce__(self) -> Any:
        return (_unpickle_task, (self.name,))


def _as_list(value: Any) -> list | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _unpickle_task(name: str) -> Task:

    app = get_current_app()
    try:
        return app.tasks[name]
    except KeyError:
        raise NotRegistered(name) from None


def add_autoretry_behaviour(task: Task) -> None:
    """Wrap ``task.run`` so exceptions in ``autoretry_for`` call ``task.retry`` (Celery's autoretry)."""
    autoretry_for = tuple(task.autoretry_for or ())
    if not autoretry_for or "_orig_run" in task.__dict__:
        return
    dont_autoretry_for = tuple(task.dont_autoretry_for or ())
    retry_kwargs = dict(task.retry_kwargs or {})
    retry_backoff = float(task.retry_backoff or False)
    retry_backoff_max = int(task.retry_backoff_max)
    retry_jitter = task.retry_jitter
    orig_run = task.run

    def run(*args: Any, **kwargs: Any) -> Any:

        try:
            return orig_run(*args, **kwargs)
        except (Ignore, Retry):
            raise
        except dont_autoretry_for:
            raise
        except autoretry_for as exc:
            retry_kwargs_for_attempt = dict(retry_kwargs)
            if retry_backoff:
                retry_kwargs_for_attempt["countdown"] = _backoff_seconds(
                    int(max(1.0, retry_backoff)), task.request.retries, retry_backoff_max, bool(retry_jitter)
                )
            if hasattr(task, "override_max_retries"):
                retry_kwargs_for_attempt["max_retries"] = getattr(task, "override_max_retries", task.max_retries)
            ret = task.retry(exc=exc, **retry_kwargs_for_attempt)
            if hasattr(task, "override_max_retries"):
                delattr(task, "override_max_retries")
            raise ret

    run.__wrapped__ = orig_run  # type: ignore[attr-defined]
    task._orig_run = orig_run  # type: ignore[attr-defined]
    task.run = run  # type: ignore[method-assign]


# States re-exported for ``Task`` subclasses that compare ``status`` in after_return.
SUCCESS, FAILURE, RETRY = states.SUCCESS, states.FAILURE, states.RETRY
