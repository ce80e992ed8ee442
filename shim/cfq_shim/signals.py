"""Signals, with Celery's names and its ``Signal`` API.

``connect`` works as a call and as a decorator (with or without options), filters on ``sender=``,
holds receivers weakly unless ``weak=False``, and skips a second receiver with the same
``dispatch_uid``. ``send`` calls every live receiver and returns ``[(receiver, result)]``; a receiver
that raises is logged and its exception is returned in its place (Celery's ``send`` is Django's
``send_robust``), so a broken handler never stops a task or the worker.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from typing import Any, Callable, Hashable

__all__ = [
    "Signal",
    "before_task_publish", "after_task_publish", "task_received", "task_prerun", "task_postrun",
    "task_success", "task_retry", "task_failure", "task_internal_error", "task_revoked",
    "task_rejected", "task_unknown", "task_sent", "celeryd_init", "celeryd_after_setup",
    "import_modules", "worker_init", "worker_before_create_process", "worker_process_init",
    "worker_process_shutdown", "worker_ready", "worker_shutdown", "worker_shutting_down",
    "heartbeat_sent", "setup_logging", "after_setup_logger", "after_setup_task_logger",
    "beat_init", "beat_embedded_init", "eventlet_pool_started", "eventlet_pool_preshutdown",
    "eventlet_pool_postshutdown", "eventlet_pool_apply", "user_preload_options",
]

logger = logging.getLogger("cfq_shim.signals")


def _make_id(target: Any) -> Hashable:
    if hasattr(target, "__func__"):
        return (id(target.__self__), id(target.__func__))
    return id(target)


_ANY_SENDER = _make_id(None)


def _accepts_kwargs(fun: Callable) -> bool:
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class Signal:
    """A named hook that receivers connect to and senders fire."""

    def __init__(self, providing_args: Any = None, use_caching: bool = False, name: str | None = None) -> None:
        self.name = name
        self.providing_args = set(providing_args or ())
        #: [(lookup key, receiver or weakref to it)]
        self.receivers: list[tuple[tuple[Hashable, Hashable], Any]] = []
        self.lock = threading.Lock()
        self._has_dead = False

    def __repr__(self) -> str:
        return f"<Signal: {self.name} providing_args={sorted(self.providing_args)!r}>"

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        """``sig.connect(fun, sender=None, weak=True, dispatch_uid=None)``, or as a decorator:
        ``@sig.connect`` and ``@sig.connect(sender=..., weak=False, dispatch_uid=...)``."""

        def with_options(sender: Any = None, weak: bool = True, dispatch_uid: Hashable = None, retry: bool = False) -> Callable:
            # retry= (Celery retries a failing receiver forever) is accepted; the receiver runs once.
            def connect_receiver(fun: Callable) -> Callable:
                self._connect(fun, sender=sender, weak=weak and not retry, dispatch_uid=dispatch_uid)
                return fun

            return connect_receiver

        if args and callable(args[0]):
            return with_options(*args[1:], **kwargs)(args[0])
        return with_options(*args, **kwargs)

    def _connect(self, receiver: Callable, *, sender: Any, weak: bool, dispatch_uid: Hashable) -> None:
        if not callable(receiver):
            raise TypeError("Signal receivers must be callable")
        if not _accepts_kwargs(receiver):
            raise ValueError(f"Signal receiver {receiver!r} must accept keyword arguments (**kwargs).")
        key = (dispatch_uid if dispatch_uid is not None else _make_id(receiver), _make_id(sender))
        ref: Any = receiver
        if weak:
            if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
                ref = weakref.WeakMethod(receiver, self._forget_dead)
            else:
                try:
                    ref = weakref.ref(receiver, self._forget_dead)
                except TypeError:
                    ref = receiver  # not weak-referenceable (a builtin): hold it strongly
        with self.lock:
            self._clear_dead()
            if all(existing != key for existing, _ in self.receivers):
                self.receivers.append((key, ref))

    def _forget_dead(self, _ref: Any) -> None:
        # Called by the garbage collector, possibly while this thread holds the lock: only flag it.
        self._has_dead = True

    def _clear_dead(self) -> None:
        """Drop receivers that were garbage-collected. The caller holds the lock."""
        if self._has_dead:
            self._has_dead = False
            self.receivers = [
                (key, r) for key, r in self.receivers if not (isinstance(r, weakref.ref) and r() is None)
            ]

    def disconnect(self, receiver: Callable | None = None, sender: Any = None, weak: Any = None, dispatch_uid: Hashable = None) -> bool:
        """Remove a receiver; True when one was connected."""
        key = (dispatch_uid if dispatch_uid is not None else _make_id(receiver), _make_id(sender))
        with self.lock:
            self._clear_dead()
            for index, (existing, _) in enumerate(self.receivers):
                if existing == key:
                    del self.receivers[index]
                    return True
        return False

    def _live_receivers(self, sender: Any) -> list[Callable]:
        if self._has_dead:
            with self.lock:
                self._clear_dead()
        sender_key = _make_id(sender)
        live = []
        for (_, receiver_sender), ref in self.receivers:
            if receiver_sender == _ANY_SENDER or receiver_sender == sender_key:
                receiver = ref() if isinstance(ref, weakref.ref) else ref
                if receiver is not None:
                    live.append(receiver)
        return live

    def has_listeners(self, sender: Any = None) -> bool:
        return bool(self._live_receivers(sender))

    def send(self, sender: Any, **named: Any) -> list[tuple[Callable, Any]]:
        """Call every receiver for ``sender``; return ``[(receiver, result or exception)]``."""
        if not self.receivers:
            return []
        responses: list[tuple[Callable, Any]] = []
        for receiver in self._live_receivers(sender):
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as exc:  # a broken handler must not stop the task or worker
                logger.exception("Signal handler %r raised: %r", receiver, exc)
                responses.append((receiver, exc))
            else:
                responses.append((receiver, response))
        return responses

    send_robust = send


# -- tasks -----------------------------------------------------------------------------------------
before_task_publish = Signal(name="before_task_publish", providing_args={
    "body", "exchange", "routing_key", "headers", "properties", "declare", "retry_policy"})
after_task_publish = Signal(name="after_task_publish", providing_args={"body", "exchange", "routing_key"})
task_received = Signal(name="task_received", providing_args={"request"})
task_prerun = Signal(name="task_prerun", providing_args={"task_id", "task", "args", "kwargs"})
task_postrun = Signal(name="task_postrun", providing_args={"task_id", "task", "args", "kwargs", "retval"})
task_success = Signal(name="task_success", providing_args={"result", "runtime"})
task_retry = Signal(name="task_retry", providing_args={"request", "reason", "einfo"})
task_failure = Signal(name="task_failure", providing_args={
    "task_id", "exception", "args", "kwargs", "traceback", "einfo"})
task_internal_error = Signal(name="task_internal_error", providing_args={
    "task_id", "args", "kwargs", "request", "exception", "traceback", "einfo"})
task_revoked = Signal(name="task_revoked", providing_args={"request", "terminated", "signum", "expired"})
task_rejected = Signal(name="task_rejected", providing_args={"message", "exc"})
task_unknown = Signal(name="task_unknown", providing_args={"message", "exc", "name", "id"})
#: Deprecated in Celery; never sent here either.
task_sent = Signal(name="task_sent", providing_args={
    "task_id", "task", "args", "kwargs", "eta", "taskset"})

# -- worker ----------------------------------------------------------------------------------------
celeryd_init = Signal(name="celeryd_init", providing_args={"instance", "conf", "options"})
celeryd_after_setup = Signal(name="celeryd_after_setup", providing_args={"instance", "conf"})
import_modules = Signal(name="import_modules")
worker_init = Signal(name="worker_init")
worker_before_create_process = Signal(name="worker_before_create_process")
worker_process_init = Signal(name="worker_process_init")
worker_process_shutdown = Signal(name="worker_process_shutdown")
worker_ready = Signal(name="worker_ready")
worker_shutdown = Signal(name="worker_shutdown")
worker_shutting_down = Signal(name="worker_shutting_down")
heartbeat_sent = Signal(name="heartbeat_sent")

# -- logging ---------------------------------------------------------------------------------------
setup_logging = Signal(name="setup_logging", providing_args={
    "loglevel", "logfile", "format", "colorize"})
after_setup_logger = Signal(name="after_setup_logger", providing_args={
    "logger", "loglevel", "logfile", "format", "colorize"})
after_setup_task_logger = Signal(name="after_setup_task_logger", providing_args={
    "logger", "loglevel", "logfile", "format", "colorize"})

# -- beat (sent by cfq-shim beat and worker -B) and eventlet (never sent: no eventlet pool) ---------------------------
beat_init = Signal(name="beat_init")
beat_embedded_init = Signal(name="beat_embedded_init")
eventlet_pool_started = Signal(name="eventlet_pool_started")
eventlet_pool_preshutdown = Signal(name="eventlet_pool_preshutdown")
eventlet_pool_postshutdown = Signal(name="eventlet_pool_postshutdown")
eventlet_pool_apply = Signal(name="eventlet_pool_apply", providing_args={"target", "args", "kwargs"})

# -- command line ----------------------------------------------------------------------------------
user_preload_options = Signal(name="user_preload_options", providing_args={"app", "options"})
