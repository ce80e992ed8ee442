"""Running one task call with Celery's semantics, for the worker and for eager mode.

:func:`execute` is the worker's entry point: it turns an :class:`~cfq_shim.envelope.Envelope` and its
:class:`Delivery` into an :class:`Outcome` that says what to do with the message (ack, retry later,
dead-letter, ...). It never settles the message itself; the worker does, one ack call per batch.

:func:`trace` is the part shared with ``Task.apply()``: the request context, the hooks
(``before_start``, ``on_success``, ``on_failure``, ``on_retry``, ``after_return``, an overridden
``__call__``) and the signals (``task_prerun``, ``task_success``, ``task_retry``, ``task_failure``,
``task_postrun``) in the order Celery 5.7's tracer (celery/app/trace.py) uses.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
import time
import traceback as traceback_module
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, TypeVar, Union

from . import signals, states
from .canvas import maybe_signature
from .envelope import Envelope
from .exceptions import Ignore, NotRegistered, Reject, Retry, TimeLimitExceeded, WorkerLostError
from .local import pop_task, push_task, set_current_app
from .request import Context

if TYPE_CHECKING:  # pragma: no cover
    from .runtime import Runtime
    from .task import Task

__all__ = [
    "Delivery", "Succeeded", "RetryLater", "Failed", "Rejected", "Ignored", "Expired", "Revoked", "Outcome",
    "ExceptionInfo", "TraceResult", "execute", "trace", "default_hook",
]

logger = logging.getLogger("cfq_shim.execution")


# -- what the worker hands in ----------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """How the message carrying the envelope was delivered."""

    message_id: str
    queue: str
    #: Deliveries of this message so far, this one included (starts at 1).
    attempts: int
    hostname: str
    lease_id: str = ""


# -- what comes out ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Succeeded:
    """The task returned: ack the message."""

    result: Any
    runtime_seconds: float


@dataclass(frozen=True)
class RetryLater:
    """Run the task again after ``delay_seconds`` (self.retry or autoretry_for).

    ``envelope`` is what to send if re-sending (``retries`` already counts this retry; new args/kwargs
    from ``retry(args=, kwargs=)`` are in it). When ``body_changed`` is false the worker may instead
    retry the same message through the transport: ``attempts`` then carries the count.
    """

    envelope: Envelope
    delay_seconds: float
    reason: str
    body_changed: bool


@dataclass(frozen=True)
class Failed:
    """The task failed for good: dead-letter the message with these details."""

    exc_type: str
    message: str
    traceback: str


@dataclass(frozen=True)
class Rejected:
    """The task raised ``Reject``: requeue it, or dead-letter it with the reason."""

    reason: str
    requeue: bool


@dataclass(frozen=True)
class Ignored:
    """The task raised ``Ignore``: ack the message and record nothing."""


@dataclass(frozen=True)
class Expired:
    """``expires`` had passed before the task ran: ack the message; the task is recorded as revoked."""


@dataclass(frozen=True)
class Revoked:
    """The task was revoked (``app.control.revoke``): skipped before it ran, or its process was ended
    (``terminate=True``, with ``signum``). Ack the message; the task is recorded as REVOKED."""

    terminated: bool = False
    signum: int | None = None


Outcome = Union[Succeeded, RetryLater, Failed, Rejected, Ignored, Expired, Revoked]


# -- the tracer -----------------------------------------------------------------------------------
class ExceptionInfo:
    """Celery's (billiard's) ``einfo``: the exception and its formatted traceback."""

    def __init__(self, exc_info: tuple | None = None) -> None:
        self.type, self.exception, self.tb = exc_info or sys.exc_info()
        self.traceback = "".join(traceback_module.format_exception(self.type, self.exception, self.tb))
        self.internal = False

    @property
    def exc_info(self) -> tuple:
        return (self.type, self.exception, self.tb)

    def __str__(self) -> str:
        return self.traceback

    def __repr__(self) -> str:
        return f"<ExceptionInfo: {self.exception!r}>"


@dataclass
class TraceResult:
    """What happened in one :func:`trace`: the final state and value (result or exception)."""

    state: str
    retval: Any
    runtime_seconds: float
    einfo: ExceptionInfo | None = None


#: States after which Celery does not call after_return (celery.app.trace.IGNORE_STATES).
_NO_AFTER_RETURN = frozenset({states.IGNORED, states.RETRY, states.REJECTED})


_F = TypeVar("_F", bound=Callable[..., Any])

_HOOKS = ("__call__", "before_start", "on_success", "after_return")
_overridden_by_type: dict[type, frozenset[str]] = {}


def default_hook(function: _F) -> _F:
    """Mark one of :class:`cfq_shim.Task`'s hooks (``_HOOKS``) as the default the tracer may skip: a task
    class whose hook still carries the mark has not overridden it."""
    function.__cfq_default_hook__ = True  # type: ignore[attr-defined]
    return function


def _overridden(task: "Task") -> frozenset[str]:
    """Which of the optional hooks the task's class overrides (cached per class: this is the hot path)."""
    cls = type(task)
    found = _overridden_by_type.get(cls)
    if found is None:
        found = frozenset(name for name in _HOOKS
                          if not getattr(getattr(cls, name), "__cfq_default_hook__", False))
        _overridden_by_type[cls] = found
    return found


@dataclass(frozen=True)
class _ResultPolicy:
    """What one call writes to the result backend (Celery's tracer: publish_result, store_errors,
    track_started)."""

    publish: bool
    store_errors: bool
    track_started: bool


def _result_policy(task: "Task", request: Context, eager: bool) -> _ResultPolicy:
    ignore = bool(task.ignore_result) or bool(request.ignore_result)
    stores_here = not eager or bool(task.store_eager_result)
    store_errors = stores_here and (not task.ignore_result or bool(task.store_errors_even_if_ignored))
    return _ResultPolicy(
        publish=stores_here and not ignore,
        store_errors=store_errors,
        track_started=not eager and bool(task.track_started) and not ignore,
    )


def trace(task: "Task", request: Context, *, eager: bool, propagate: bool) -> TraceResult:
    """Run ``task`` under ``request`` (which holds args and kwargs), as Celery's tracer does.

    ``propagate`` (eager mode with ``task_eager_propagates``) lets the task's exception out before
    ``on_failure``/``on_retry`` run, as in Celery. KeyboardInterrupt/SystemExit always pass through.
    States and results go to the result backend as in Celery: STARTED (``track_started``), RETRY,
    FAILURE, SUCCESS; a return value JSON cannot carry makes the task a FAILURE saying so.
    """
    args, kwargs, task_id = request.args, request.kwargs, request.id
    policy = _result_policy(task, request, eager)
    overridden = _overridden(task)
    fun = task if "__call__" in overridden else task.run
    started = time.monotonic()
    state: str | None = None
    retval: Any = None
    einfo: ExceptionInfo | None = None
    push_task(task)
    task.request_stack.push(request)
    try:
        if signals.task_prerun.receivers:
            signals.task_prerun.send(sender=task, task_id=task_id, task=task, args=args, kwargs=kwargs)
        if policy.track_started:
            task.backend.store_result(task_id, {"pid": os.getpid(), "hostname": request.hostname}, states.STARTED, request=request)
        try:
            if "before_start" in overridden:
                task.before_start(task_id, args, kwargs)
            retval = fun(*args, **kwargs)
            state = states.SUCCESS
        except Reject as exc:
            state, retval = states.REJECTED, exc
            einfo = ExceptionInfo()
            _log_task_error(task, request, "rejected", einfo, logging.WARNING)
        except Ignore as exc:
            state, retval = states.IGNORED, exc
            einfo = ExceptionInfo()
            _log_task_error(task, request, "ignored", einfo, logging.INFO)
        except Retry as exc:
            if propagate:
                raise
            state, retval = states.RETRY, exc
            einfo = ExceptionInfo()
            if policy.store_errors:
                task.backend.mark_as_retry(task_id, exc.exc or exc, einfo.traceback, request=request)
            task.on_retry(exc.exc, task_id, args, kwargs, einfo)
            signals.task_retry.send(sender=task, request=request, reason=exc, einfo=einfo)
            if logger.isEnabledFor(logging.INFO):
                logger.info("Task %s[%s] retry: %s", task.name, task_id, exc)
        except Exception as exc:
            if propagate:
                raise
            state, retval = states.FAILURE, exc
            einfo = ExceptionInfo()
            _handle_failure(task, request, exc, einfo, policy.store_errors)
        else:
            runtime = time.monotonic() - started
            try:
                _apply_callbacks(task, request, retval)
                # After the callbacks, so the children they sent are in the stored meta (as Celery).
                task.backend.mark_as_done(task_id, retval, request, policy.publish)
            except Exception as exc:  # a link that cannot be sent, a result JSON cannot carry: FAILURE
                if propagate:
                    raise
                state, retval = states.FAILURE, exc
                einfo = ExceptionInfo()
                _handle_failure(task, request, exc, einfo, policy.store_errors)
            else:
                if "on_success" in overridden:
                    try:
                        task.on_success(retval, task_id, args, kwargs)
                    except Reject:
                        raise
                    except Exception as exc:
                        if eager:
                            raise
                        logger.exception("Task %s[%s] on_success handler raised: %r", task.name, task_id, exc)
                if signals.task_success.receivers:
                    signals.task_success.send(sender=task, result=retval, runtime=runtime)
                if logger.isEnabledFor(logging.INFO):
                    logger.info("Task %s[%s] succeeded in %ss: %r", task.name, task_id, round(runtime, 6), retval)
        if state not in _NO_AFTER_RETURN and "after_return" in overridden:
            try:
                task.after_return(state, retval, task_id, args, kwargs, None)
            except Reject:
                raise
            except Exception as exc:
                if eager:
                    raise
                logger.exception("Task %s[%s] after_return handler raised: %r", task.name, task_id, exc)
    finally:
        try:
            if signals.task_postrun.receivers:
                signals.task_postrun.send(
                    sender=task, task_id=task_id, task=task, args=args, kwargs=kwargs, retval=retval, state=state
                )
        finally:
            task.request_stack.pop()
            pop_task()
    return TraceResult(state=state or states.FAILURE, retval=retval, runtime_seconds=time.monotonic() - started, einfo=einfo)


def _handle_failure(task: "Task", request: Context, exc: Exception, einfo: ExceptionInfo, store_errors: bool) -> None:
    # Celery's order: the result backend's mark_as_failure (with the errbacks), on_failure, task_failure.
    task.backend.mark_as_failure(request.id, exc, einfo.traceback, request=request, store_result=store_errors)
    apply_errbacks(task.app, task.name, request, exc, einfo.tb)
    task.on_failure(exc, request.id, request.args, request.kwargs, einfo)
    _send_task_failure(task, request, exc, einfo)
    _log_task_error(task, request, "raised unexpected", einfo, logging.ERROR)


def _send_task_failure(task: "Task", request: Context, exc: BaseException, einfo: ExceptionInfo | None) -> None:
    signals.task_failure.send(
        sender=task, task_id=request.id, exception=exc, args=request.args, kwargs=request.kwargs,
        traceback=einfo.tb if einfo else None, einfo=einfo,
    )


def _log_task_error(task: "Task", request: Context, what: str, einfo: ExceptionInfo, level: int) -> None:
    if logger.isEnabledFor(level):
        logger.log(
            level, "Task %s[%s] %s: %r", task.name, request.id, what, einfo.exception,
            exc_info=einfo.exc_info if level >= logging.ERROR else None,
        )


def _apply_callbacks(task: "Task", request: Context, retval: Any) -> None:
    if not request.callbacks:
        return

    root_id = request.root_id or request.id
    for callback in request.callbacks:
        maybe_signature(callback, app=task.app).apply_async((retval,), parent_id=request.id, root_id=root_id)


def _errback_takes_failure_details(errback_task: "Task", sig: Any) -> bool:
    """Celery's rule for a link_error task: called in place with ``(request, exc, traceback)`` when its
    function (not ``bind=True``) still takes more than one positional argument after the signature's own
    arguments; otherwise it is sent with the failed task's id."""
    if getattr(errback_task, "_bound_run", False):
        return False
    fun = getattr(errback_task, "__wrapped__", None) or errback_task.run
    try:
        if not sig.immutable and (sig.args or sig.kwargs):
            fun = functools.partial(fun, *sig.args, **sig.kwargs)
        parameters = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(positional) > 1


def apply_errbacks(app: "Runtime", task_name: str | None, request: Context, exc: BaseException, tb: Any) -> None:
    """``link_error``: new-style errbacks run here with ``(request, exc, traceback)``; old-style ones get
    the failed task's id, sent (or applied in eager mode) as Celery does."""
    if not request.errbacks:
        return

    by_id = []
    for errback in request.errbacks:
        sig = maybe_signature(errback, app=app)
        try:
            errback_task = sig.type
        except KeyError:  # not registered here: another worker may know it
            by_id.append(sig)
            continue
        if _errback_takes_failure_details(errback_task, sig):
            try:
                sig(request, exc, tb)
            except Exception:
                logger.exception("Errback %r raised an exception", sig.name)
        else:
            by_id.append(sig)
    root_id = request.root_id or request.id
    for sig in by_id:
        try:
            if app.conf.task_always_eager or request.is_eager:
                sig.apply((request.id,), parent_id=request.id, root_id=root_id)
            else:
                sig.apply_async((request.id,), parent_id=request.id, root_id=root_id)
        except Exception as send_error:
            logger.error("Task %s[%s]: errback %r could not be sent: %r", task_name, request.id, sig.name, send_error)


# -- the worker's entry point -------------------------------------------------------------------------
def request_for(envelope: Envelope, delivery: Delivery) -> Context:
    # Custom headers are also request attributes in a Celery worker (request.tenant); the fields below win.
    return Context(
        envelope.headers,
        id=envelope.id,
        task=envelope.task,
        args=envelope.args,
        kwargs=envelope.kwargs,
        retries=envelope.retries + delivery.attempts - 1,
        eta=envelope.eta.isoformat() if envelope.eta else None,
        expires=envelope.expires.isoformat() if envelope.expires else None,
        headers=envelope.headers,
        delivery_info={
            "exchange": "",
            "routing_key": delivery.queue,
            "priority": None,
            "redelivered": delivery.attempts > 1,
            "message_id": delivery.message_id,
            "attempts": delivery.attempts,
        },
        called_directly=False,
        is_eager=False,
        hostname=delivery.hostname,
        root_id=envelope.root_id,
        parent_id=envelope.parent_id,
        group=envelope.group_id,
        callbacks=envelope.callbacks or None,
        errbacks=envelope.errbacks or None,
        timelimit=(envelope.time_limit, envelope.soft_time_limit),
        reply_to=None,
        correlation_id=envelope.id,
    )


def _retry_outcome(envelope: Envelope, request: Context, exc: Retry) -> RetryLater:
    sig = exc.sig
    when = exc.when
    if isinstance(when, datetime):
        moment = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        delay = max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
    else:
        delay = max(0.0, float(when or 0))
    args, kwargs, queue = envelope.args, envelope.kwargs, envelope.queue
    if sig is not None:
        args = list(sig.args)
        kwargs = dict(sig.kwargs)
        queue = sig.options.get("queue") or queue
    # The eta lets the worker re-delay in hops when the delay is longer than the transport allows.
    eta = datetime.now(timezone.utc) + timedelta(seconds=delay) if delay > 0 else None
    next_envelope = replace(
        envelope, args=args, kwargs=kwargs, queue=queue, retries=request.retries + 1, eta=eta,
    )
    body_changed = args != envelope.args or kwargs != envelope.kwargs or queue != envelope.queue
    return RetryLater(envelope=next_envelope, delay_seconds=delay, reason=str(exc), body_changed=body_changed)


def _store_internal_error(task: "Task", request: Context, exc: BaseException, einfo: ExceptionInfo) -> None:
    try:
        task.backend.mark_as_failure(request.id, exc, einfo.traceback, request=request, call_errbacks=False)
    except Exception:  # noqa: BLE001 - the message still goes to the dead-letter queue with the reason
        logger.exception("Task %s[%s]: could not store the internal error in the result backend", task.name, request.id)


#: Failures the worker, not the task, reports (a hard time limit, a child process that died).
WORKER_FAILURES = {"TimeLimitExceeded": TimeLimitExceeded, "WorkerLostError": WorkerLostError}


def record_worker_failure(app: "Runtime", envelope: Envelope, exc_type: str, message: str, hostname: str) -> None:
    """Store FAILURE for a task the worker had to give up on (Celery's ``on_timeout``/worker lost), so
    ``get()`` raises instead of waiting, and a chord counts the header task as done."""
    task = app.tasks.get(envelope.task)
    if task is None:
        return
    exc = WORKER_FAILURES[exc_type](message)
    request = request_for(envelope, Delivery(message_id="", queue=envelope.queue, attempts=1, hostname=hostname))
    store = not task.ignore_result or bool(task.store_errors_even_if_ignored)
    try:
        task.backend.mark_as_failure(envelope.id, exc, None, request=request, store_result=store)
    except Exception:  # noqa: BLE001 - the message still goes to the dead-letter queue with the reason
        logger.exception("Task %s[%s]: could not store %s in the result backend", envelope.task, envelope.id, exc_type)


def _exc_message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not lose the record
        return repr(exc)


def _rejected(exc: Reject) -> Rejected:
    return Rejected(reason=_exc_message(exc.reason) if exc.reason is not None else "", requeue=bool(exc.requeue))


def execute(app: "Runtime", envelope: Envelope, delivery: Delivery) -> Outcome:
    """Run the task an envelope names and say what should happen to its message.

    Catches everything the task raises (``SoftTimeLimitExceeded`` included); only BaseExceptions that
    are not Exceptions (KeyboardInterrupt, SystemExit) pass through.
    """
    try:
        task = app.tasks[envelope.task]
    except KeyError:
        exc = NotRegistered(envelope.task)
        signals.task_unknown.send(sender=None, message=envelope, exc=exc, name=envelope.task, id=envelope.id)
        return Failed(
            exc_type="NotRegistered",
            message=f"Received unregistered task of type {envelope.task!r}: the worker's app has no such task.",
            traceback="",
        )
    set_current_app(app)  # shared tasks resolve their app per thread
    request = request_for(envelope, delivery)
    if envelope.expires is not None and envelope.expires <= datetime.now(timezone.utc):
        signals.task_revoked.send(sender=task, request=request, terminated=False, signum=None, expired=True)
        task.backend.mark_as_revoked(envelope.id, "expired", request=request, store_result=not task.ignore_result)
        if logger.isEnabledFor(logging.INFO):
            logger.info("Discarding revoked task: %s[%s] (expired)", task.name, envelope.id)
        return Expired()
    try:
        result = trace(task, request, eager=False, propagate=False)
    except Reject as exc:  # raised by on_success/after_return: Celery rejects the message
        return _rejected(exc)
    except Exception as exc:
        # A hook (on_failure, on_retry, ...) raised while handling the task's outcome: Celery reports an
        # internal error and records the task as failed.
        einfo = ExceptionInfo()
        signals.task_internal_error.send(
            sender=task, task_id=request.id, args=request.args, kwargs=request.kwargs, request=request,
            exception=exc, traceback=einfo.tb, einfo=einfo,
        )
        logger.error("Task %s[%s] internal error: %r", task.name, request.id, exc, exc_info=einfo.exc_info)
        _store_internal_error(task, request, exc, einfo)
        return Failed(exc_type=type(exc).__name__, message=_exc_message(exc), traceback=einfo.traceback)
    state, retval = result.state, result.retval
    if state == states.SUCCESS:
        return Succeeded(result=retval, runtime_seconds=result.runtime_seconds)
    if state == states.RETRY:
        return _retry_outcome(envelope, request, retval)
    if state == states.REJECTED:
        if not retval.requeue:
            # Celery 5.7's worker: a message rejected for good fires task_failure (after task_postrun),
            # so the task does not look pending forever (celery/worker/request.py, issue #4222).
            _send_task_failure(task, request, retval, result.einfo)
        return _rejected(retval)
    if state == states.IGNORED:
        return Ignored()
    return Failed(
        exc_type=type(retval).__name__,
        message=_exc_message(retval),
        traceback=result.einfo.traceback if result.einfo else "",
    )
