"""``Celery``: the application object, with Celery's public surface.

It holds the settings (:mod:`cfq_shim.conf`), the tasks (:mod:`cfq_shim.registry`), the routing of task
names to queues (:mod:`cfq_shim.routing`) and, created on first use, the transport and the producer. Nothing is imported or connected at
construction: tasks modules named by ``include``/``imports``/``autodiscover_tasks`` are imported when
the tasks are first needed (``app.tasks``, a worker start), and the broker is opened on the first send.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import threading
import warnings
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Sequence

from .backend import Backend, DisabledBackend
from .builtins import add_builtin_tasks
from .chords import on_chord_part_return
from . import queue_policy
from .canvas import signature as make_signature
from .conf import Settings, load_object
from .discovery import django_installed_apps, import_related_module
from .control.client import Control
from .exceptions import AlwaysEagerIgnored, ImproperlyConfigured
from .fixups import install_fixups
from .limits import DEFAULT_LIMITS, Limits
from .local import (
    _tls,
    get_current_task,
    get_current_worker_task,
    set_current_app,
    set_default_app,
    set_default_app_factory,
)
from .sending.coalesce import CoalescingProducer
from .sending.message import check_arguments, new_task_id, result_headers, send_call, warn_ignored_options
from .sending.outbox import Outbox, default_outbox_path
from .sending.outbox_producer import OutboxProducer
from .sending.producer import Producer
from .result import AsyncResult
from .results import open_backend
from .registry import (
    TaskRegistry, build_shared_tasks, gen_task_name, make_task, register_app, share_task, shared_task, warn_duplicate,
)
from .routing import Router
from . import signals
from .signals import Signal
from .task import Task, add_autoretry_behaviour
from .transport import UnsupportedBrokerURL, open_transport
from .transport.base import PRODUCER_MODES, QueueSettings, Transport

__all__ = ["Celery", "shared_task", "DEFAULT_BROKER_URL", "BROKER_URL_ENVVAR"]

logger = logging.getLogger("cfq_shim.app")


#: The broker when none is configured: the embedded store, relative to the working directory.
DEFAULT_BROKER_URL = "sqlite:///.cfq-shim/queues.sqlite3"
#: Environment variable that sets the broker when the app's settings do not.
BROKER_URL_ENVVAR = "CFQ_SHIM_BROKER_URL"

class _BulkSends(threading.local):
    #: (queue, body, delay_seconds) held by ``Celery.sending_in_bulk`` on this thread, or None.
    items: list[tuple[str, str, int]] | None = None


_bulk = _BulkSends()


class Celery:
    """The application: settings, tasks and the way to send them. Subclass it freely."""

    #: The base class of the app's tasks; ``app.Task = ContextTask`` replaces it (Flask's pattern).
    Task: type[Task] = Task
    SYSTEM = "cfq_shim"

    def __init__(
        self,
        main: str | None = None,
        loader: Any = None,
        backend: Any = None,
        *,
        broker: str | None = None,
        include: Sequence[str] | None = None,
        task_cls: type[Task] | str | None = None,
        set_as_current: bool = True,
        config_source: Any = None,
        namespace: str | None = None,
        autofinalize: bool = True,
        changes: dict[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        for celery_only in ("amqp", "events", "log", "control", "tasks", "fixups", "strict_typing"):
            settings.pop(celery_only, None)
        self.main = main
        self.namespace = namespace
        self.autofinalize = autofinalize
        self.conf = Settings()
        if task_cls is not None:
            self.Task = load_object(task_cls) if isinstance(task_cls, str) else task_cls
        self._tasks = TaskRegistry()
        self._finalized = False
        self._default_modules_imported = False
        self._finalize_lock = threading.RLock()
        self._pending_autodiscover: list[tuple[Any, str]] = []
        self._router = Router(self.conf)
        self._transport: Transport | None = None
        self._backend: Any = None
        self._producer: Producer | None = None
        self._limits: Limits | None = None
        self._always_eager = False
        self._always_eager_read_at = -1
        self._connect_lock = threading.Lock()
        self.hostname = socket.gethostname()
        self.control = Control(self)
        self.on_configure = Signal(name="app.on_configure")
        self.on_after_configure = Signal(name="app.on_after_configure")
        self.on_after_finalize = Signal(name="app.on_after_finalize")
        self.on_after_fork = Signal(name="app.on_after_fork")
        if config_source is not None:
            self.config_from_object(config_source, namespace=namespace)
        if changes:
            self.conf.update(changes)
        if broker:
            self.conf.broker_url = broker
        if backend:
            self.conf.result_backend = backend
        if include:
            self.conf.include = tuple(include)
        if settings:
            self.conf.update(settings)
        register_app(self)
        if set_as_current:
            self.set_current()
        #: Framework fix-ups that apply here (Django's when DJANGO_SETTINGS_MODULE is set): cfq_shim.fixups.
        self._fixups = install_fixups(self)
        self.on_init()

    def on_init(self) -> None:
        """Called at the end of ``__init__`` (override in subclasses, as in Celery)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.main or '__main__'} at {id(self):#x}>"

    def __reduce__(self) -> Any:
        return (_unpickle_app, (type(self), self.main, self.conf.changes_only()))

    # -- current app ------------------------------------------------------------------------------
    def set_current(self) -> None:
        """Make this the current app (for ``current_app`` and ``@shared_task``) in every thread."""
        set_current_app(self)
        set_default_app(self)

    def set_default(self) -> None:
        set_default_app(self)

    # -- configuration ----------------------------------------------------------------------------
    def config_from_object(self, obj: Any, silent: bool = False, force: bool = False, namespace: str | None = None) -> None:
        """Take settings from a module, ``"module"``, ``"module:attr"`` or an object, read when a setting is
        first used (``force=True``: now), as Celery does.

        ``namespace='CELERY'`` reads only ``CELERY_*`` names (Django: ``'django.conf:settings'``).
        """
        self.namespace = namespace or self.namespace
        self.conf.add_source(obj, namespace=self.namespace, silent=silent)
        if force:
            self.conf.read_sources()

    def config_from_envvar(self, variable_name: str, silent: bool = False, force: bool = False) -> bool:
        module_name = os.environ.get(variable_name)
        if not module_name:
            if silent:
                return False
            raise ImproperlyConfigured(f"The environment variable {variable_name!r} is not set.")
        self.config_from_object(module_name, silent=silent, force=force)
        return True

    def add_defaults(self, defaults: Any) -> None:
        source = defaults() if callable(defaults) else defaults
        for key, value in dict(source).items():
            if not self.conf.is_set(key):
                self.conf[key] = value

    def always_eager(self) -> bool:
        """``conf.task_always_eager``, read again only after the settings changed: every ``.delay()`` asks."""
        conf = self.conf
        if self._always_eager_read_at != conf.changes or conf._sources:
            self._always_eager = bool(conf.task_always_eager)
            self._always_eager_read_at = conf.changes
        return self._always_eager

    @property
    def limits(self) -> Limits:
        """Cloudflare's limits with ``cfq_limits`` overrides, read at first use."""
        if self._limits is None:
            overrides = self.conf.cfq_limits or {}
            self._limits = DEFAULT_LIMITS.with_overrides(**overrides) if overrides else DEFAULT_LIMITS
        return self._limits

    # -- tasks ------------------------------------------------------------------------------------
    def task(self, *args: Any, **opts: Any) -> Any:
        """``@app.task``, ``@app.task(...)`` or ``app.task(func, ...)``."""
        if args and callable(args[0]):
            if len(args) > 1:
                raise TypeError("@task() takes options as keywords only")
            return self._task_from_decorator(args[0], opts)
        if args:
            raise TypeError(f"argument 1 to @task() must be a callable, not {args[0]!r}")

        def decorate(fun: Callable) -> Task:
            return self._task_from_decorator(fun, opts)

        return decorate

    def _task_from_decorator(self, fun: Callable, opts: dict[str, Any]) -> Any:
        """Celery's ``shared`` (default True: every app gets the task), ``filter`` (applied to the task
        returned) and ``lazy`` (tasks are built at once here) decorator options, then the task."""
        options = dict(opts)
        shared = options.pop("shared", True)
        task_filter = options.pop("filter", None)
        options.pop("lazy", None)
        task = self._task_from_fun(fun, **options)
        if shared:
            share_task(self, fun, options)
        return task_filter(task) if task_filter else task

    def _task_from_fun(self, fun: Callable, name: str | None = None, base: Any = None, bind: bool = False, **options: Any) -> Task:
        name = name or self.gen_task_name(fun.__name__, fun.__module__)
        existing = self._tasks.get(name)
        if existing is not None:
            if getattr(existing, "__wrapped__", None) is not fun:
                warn_duplicate(name, existing, fun)
            return existing
        task = make_task(self, fun, name=name, base=base, bind=bind, options=options)
        self._tasks[name] = task
        return task

    def gen_task_name(self, name: str, module: str) -> str:
        """The name of a task defined without ``name=``: ``module.function``. Override in a subclass to
        change the scheme (Celery's documented hook)."""
        return gen_task_name(self, name, module)

    @property
    def tasks(self) -> TaskRegistry:
        """The registry; the first access imports the modules named by include/imports/autodiscover."""
        if not self._finalized and self.autofinalize:
            self.finalize(auto=True)
        return self._tasks

    def finalize(self, auto: bool = False) -> None:
        with self._finalize_lock:
            if self._finalized:
                return
            self._finalized = True
            add_builtin_tasks(self)
            self.on_configure.send(sender=self)
            self._before_importing_tasks()
            for module_name in (*tuple(self.conf.imports or ()), *tuple(self.conf.include or ())):
                __import__(module_name)
            while self._pending_autodiscover:
                packages, related_name = self._pending_autodiscover.pop(0)
                self._import_related(packages, related_name)
            build_shared_tasks(self)
            for task in self._tasks.values():
                if task._app is self or task._app is None:
                    task._configure_from(self)
                    self._annotate(task)
            self.on_after_configure.send(sender=self, source=self.conf)
            self.on_after_finalize.send(sender=self)

    def import_default_modules(self) -> None:
        """What Celery's worker does first (``app.loader.import_default_modules()``), once per process: the
        fix-ups' start-up work (Django's system checks, which import the URLconf, the views and the task
        modules they import), the ``import_modules`` signal, then ``imports``, ``include`` and the
        ``autodiscover_tasks`` packages. A receiver's exception is raised, as in Celery."""
        if self._default_modules_imported:
            return
        self._default_modules_imported = True
        for fixup in self._fixups:
            # Called directly, not as a signal receiver, so that its one-line error is not logged as a traceback.
            fixup.validate_models()
        for _receiver, response in signals.import_modules.send(sender=self):
            if isinstance(response, Exception):
                raise response
        self.finalize()

    def _annotate(self, task: Task) -> None:
        annotations = self.conf.task_annotations
        if not annotations:
            return
        for annotation in annotations if isinstance(annotations, (list, tuple)) else [annotations]:
            if isinstance(annotation, str):
                annotation = load_object(annotation)
            if isinstance(annotation, dict):
                for key in ("*", task.name):
                    for attribute, value in (annotation.get(key) or {}).items():
                        setattr(task, attribute, value)
            elif hasattr(annotation, "annotate"):
                for attribute, value in (annotation.annotate(task) or {}).items():
                    setattr(task, attribute, value)

    def autodiscover_tasks(self, packages: Iterable[str] | Callable[[], Iterable[str]] | None = None, related_name: str = "tasks", force: bool = False) -> None:
        """Import ``<package>.tasks`` for each package when the tasks are first needed (``force``: now).

        ``packages`` may be a callable (Django's ``lambda: settings.INSTALLED_APPS``). With no packages,
        Django's ``INSTALLED_APPS`` are used when Django is configured.
        """
        if force or self._finalized:
            self._import_related(packages, related_name)
        else:
            self._pending_autodiscover.append((packages, related_name))

    def _before_importing_tasks(self) -> None:
        """Let the fix-ups prepare the framework tasks modules import from (``django.setup()``)."""
        for fixup in getattr(self, "_fixups", ()):
            fixup.on_import_modules()

    def _import_related(self, packages: Any, related_name: str) -> None:
        self._before_importing_tasks()
        # Celery's rule: no packages (None, an empty list) means the framework's (Django's installed apps);
        # a callable is called, and what it returns is used as it is.
        if not packages:
            packages = django_installed_apps()
        elif callable(packages):
            packages = packages()
        for package in packages or ():
            import_related_module(package, related_name)

    def register_task(self, task: Task | type[Task], **options: Any) -> Task:
        if isinstance(task, type):
            task = task()
        if not task.name:
            task.name = self.gen_task_name(type(task).__name__, type(task).__module__)
        task.bind(self)
        add_autoretry_behaviour(task)
        self._tasks[task.name] = task
        return task

    def add_periodic_task(self, schedule: Any, sig: Any, args: tuple = (), kwargs: dict | None = None, name: str | None = None, **opts: Any) -> str:
        """Add an entry to ``beat_schedule``, as Celery: ``sig`` is a signature (``add.s(1, 2)``) or a task
        (with ``args``/``kwargs``); the key is ``name``, else ``repr(sig)``. ``cfq-shim beat`` sends it."""
        if hasattr(sig, "clone") and hasattr(sig, "args"):
            sig = sig.clone(args, kwargs or {})
        else:
            sig = self.signature(sig.name if hasattr(sig, "name") else str(sig), args, kwargs or {})
        key = name or repr(sig)
        entry = {"schedule": schedule, "task": sig.name, "args": tuple(sig.args), "kwargs": dict(sig.kwargs),
                 "options": {**dict(sig.options), **opts}}
        beat_schedule = dict(self.conf.beat_schedule or {})
        if name is None and key in beat_schedule:
            logger.warning("Periodic task key=%r shadowed a previous unnamed periodic task. Pass a name kwarg "
                           "to add_periodic_task to silence this warning.", key)
        beat_schedule[key] = entry
        self.conf.beat_schedule = beat_schedule
        return key

    # -- routing ----------------------------------------------------------------------------------
    def queue_for(self, task_name: str, args: Any = None, kwargs: Any = None) -> str:
        """The queue a call of ``task_name`` goes to: the task's ``queue=``, else ``task_routes``, else the
        default queue (:mod:`cfq_shim.routing`)."""
        return self._router.queue_for(task_name, self._tasks.get(task_name), args, kwargs)

    def queues(self) -> list[str]:
        """Every queue the app knows: the default, each task's ``queue=``, ``task_routes``, ``task_queues``."""
        names = {self.conf.task_default_queue}
        for task in self.tasks.values():
            names.add(self.queue_for(task.name))
        names.update(self._router.named_queues())
        return sorted(names)

    # -- the broker ------------------------------------------------------------------------------
    @property
    def broker_url(self) -> str:
        """``$CELERY_BROKER_URL`` (it beats the setting, as in Celery), else the configured broker, else
        ``$CFQ_SHIM_BROKER_URL``, else the embedded store in ./.cfq-shim/."""
        return self.conf.broker_url or os.environ.get(BROKER_URL_ENVVAR) or DEFAULT_BROKER_URL

    def visibility_timeout_ms(self) -> int:
        """The lease of a pulled message (:func:`cfq_shim.queue_policy.visibility_timeout_ms`): the settings,
        else one hour, Celery's default on Redis."""
        return queue_policy.visibility_timeout_ms(self.conf, self.limits)

    def queue_settings(self, name: str) -> QueueSettings:
        """The consumer settings the app's queue ``name`` gets, on the embedded store (created on first
        use) and on Cloudflare (``cfq-shim provision``) alike: :func:`cfq_shim.queue_policy.consumer_settings`."""
        return queue_policy.consumer_settings(name, self.conf, self.limits)

    @property
    def transport(self) -> Transport:
        """The transport for :attr:`broker_url`, opened on first use."""
        if self._transport is None:
            with self._connect_lock:
                if self._transport is None:
                    url = self.broker_url
                    if url == DEFAULT_BROKER_URL:
                        os.makedirs(".cfq-shim", exist_ok=True)
                    try:
                        self._transport = open_transport(url, limits=self.limits)
                    except UnsupportedBrokerURL as exc:
                        source = self.conf.source_of("broker_url")
                        if source.startswith("the environment"):
                            # A deployment that still exports the old Redis/AMQP URL: say where it comes from.
                            raise UnsupportedBrokerURL(f"{exc} (The URL comes from {source}.)") from None
                        raise
        return self._transport

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            transport = self.transport
            with self._connect_lock:
                if self._producer is None:
                    self._producer = self._make_producer(transport)
        return self._producer

    def _make_producer(self, transport: Transport) -> Producer:
        """The producer of the mode ``cfq_producer`` names (else the broker URL's ``?producer=``)."""
        mode = self.conf.cfq_producer or transport.producer_mode
        if mode not in PRODUCER_MODES:
            raise ImproperlyConfigured(f"cfq_producer={mode!r}: use one of {', '.join(PRODUCER_MODES)}")
        if mode == "outbox":
            # .delay() commits to a local file; a forwarder pushes it (cfq_shim.sending.outbox).
            conf = self.conf
            return OutboxProducer(
                transport, outbox=Outbox(self.outbox_path(), max_messages=int(conf.cfq_outbox_max_messages)),
                limits=self.limits, queue_settings=self.queue_settings, forwarder=conf.cfq_outbox_forwarder,
                lag_warning_seconds=float(conf.cfq_outbox_lag_warning_seconds),
            )
        if mode == "buffered" and not transport.coalesce_sends:
            raise ImproperlyConfigured(f"cfq_producer='buffered' needs a transport that pushes over HTTP "
                                       f"(cloudflare://), not {transport.scheme}://")
        if transport.coalesce_sends:
            # Over HTTP, concurrent .delay() calls share bulk pushes (cfq_shim.sending.coalesce).
            transport.producer_mode = mode
            return CoalescingProducer(transport, limits=self.limits, queue_settings=self.queue_settings)
        return Producer(transport, limits=self.limits, queue_settings=self.queue_settings)

    def outbox_path(self) -> str:
        """The outbox file of the ``outbox`` producer mode: ``cfq_outbox_path``, else the default
        (:func:`cfq_shim.sending.outbox.default_outbox_path`)."""
        return str(self.conf.cfq_outbox_path or default_outbox_path())

    def connection_for_write(self) -> Transport:
        return self.transport

    connection = connection_for_write

    def reset_after_fork(self) -> None:
        """Forget the parent's transport and producer in a forked child (without closing what the
        parent still uses); the child opens its own on first use. (:class:`cfq_shim.runtime.Runtime`)"""
        self._transport = None
        self._producer = None
        if self._backend is not None:
            self._backend.reset_after_fork()
        self._connect_lock = threading.Lock()
        self._finalize_lock = threading.RLock()

    def close(self) -> None:
        """Close the transport and the result backend's connections (both reopen on next use)."""
        with self._connect_lock:
            producer = self._producer
            transport, self._transport, self._producer = self._transport, None, None
            backend = self._backend  # kept: it reconnects on next use (memory:// keeps its results)
        if isinstance(producer, OutboxProducer):
            producer.close()  # its forwarder threads push through the transport closed below
        if transport is not None:
            transport.close()
        if backend is not None:
            backend.close()

    # -- sending ----------------------------------------------------------------------------------
    def send_task(
        self,
        name: str,
        args: Iterable | None = None,
        kwargs: dict | None = None,
        countdown: float | None = None,
        eta: datetime | str | None = None,
        task_id: str | None = None,
        expires: float | datetime | str | None = None,
        link: Any = None,
        link_error: Any = None,
        group_id: str | None = None,
        retries: int = 0,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        root_id: str | None = None,
        parent_id: str | None = None,
        headers: dict | None = None,
        queue: str | None = None,
        task_type: Task | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Send a task by name (it need not be registered here). Returns an :class:`AsyncResult`.

        Raises :class:`~cfq_shim.exceptions.EncodeError` (naming the task and the size or reason) before
        anything is sent when the call cannot be carried.
        """
        if options:
            warn_ignored_options(name, options)
        if task_type is None and self.always_eager():
            warnings.warn("send_task ignores task_always_eager: the task is sent to the broker", AlwaysEagerIgnored, stacklevel=2)
        if type(args) is not tuple or (kwargs is not None and type(kwargs) is not dict):  # else nothing to check
            check_arguments(name, args, kwargs)
        task_id = task_id or new_task_id()
        parent = None
        if _tls.task_stack:
            parent = get_current_worker_task()
            if parent is not None:
                request = parent.request
                if root_id is None:
                    root_id = request.root_id or request.id
                if parent_id is None:
                    parent_id = request.id
        if options:  # what a plain call carries in its headers needs an option to differ
            headers = result_headers(headers, options)
        if root_id is None:
            root_id = task_id
        if queue is None:
            queue = self.queue_for(name, args, kwargs)
        send_call(
            self.producer, name, args, kwargs, task_id=task_id, queue=queue, root_id=root_id, parent_id=parent_id,
            countdown=countdown, eta=eta, expires=expires, link=link, link_error=link_error, group_id=group_id,
            retries=retries, time_limit=time_limit, soft_time_limit=soft_time_limit, headers=headers,
            limits=self.limits, held=_bulk.items,
        )
        result = AsyncResult(task_id, task_name=name, app=self)
        if parent is not None and parent.trail and options.get("add_to_parent", True):
            parent.request.children.append(result)  # stored as the parent's ``children``
        return result

    @contextmanager
    def sending_in_bulk(self) -> Iterator[None]:
        """Hold the sends made in this block (this thread) and push them together at its end, as bulk
        pushes of up to the batch limits (``group`` and ``chord`` headers). Nested blocks join the outer
        one. Nothing is pushed when the block raises."""
        if _bulk.items is not None:
            yield
            return
        _bulk.items = []
        try:
            yield
            items = _bulk.items
        finally:
            _bulk.items = None
        if items:
            self.producer.send_many(items)

    @contextmanager
    def holding_sends(self) -> Iterator[list[tuple[str, str, int]]]:
        """Collect the ``(queue, body, delay_seconds)`` of the sends made in this block on this thread
        instead of sending them; the caller stores them (the Django transactional outbox writes them into
        the project's database, cfq_shim/django/outbox). Envelopes, size checks and publish signals are
        those of a real send; a ``sending_in_bulk`` block inside joins this one."""
        outer = _bulk.items
        held: list[tuple[str, str, int]] = []
        _bulk.items = held
        try:
            yield held
        finally:
            _bulk.items = outer

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult:  # noqa: N802 - Celery's name
        return AsyncResult(task_id, app=self, **kwargs)

    def signature(self, *args: Any, **kwargs: Any) -> Any:

        kwargs["app"] = self
        return make_signature(*args, **kwargs)

    @property
    def current_task(self) -> Task | None:

        return get_current_task()

    @property
    def current_worker_task(self) -> Task | None:
        return get_current_worker_task()

    @property
    def backend(self) -> Any:
        """The result backend for ``result_backend`` (:mod:`cfq_shim.backend`), opened on first use.
        Without one, a :class:`~cfq_shim.backend.DisabledBackend`: storing does nothing, reading raises
        an error that suggests a backend."""
        if self._backend is None:
            with self._connect_lock:
                if self._backend is None:
                    self._backend = self.open_backend(self.conf.result_backend)
        return self._backend

    def open_backend(self, url: str | None) -> Any:
        """A result backend for ``url`` with this app's settings (None: the disabled backend)."""
        if not url:
            return DisabledBackend()
        return Backend(open_backend(url), self.conf, url, on_chord_part=on_chord_part_return)

    def app_spec(self) -> str:
        """A ``module:attribute`` that names this app, for ``cfq-shim -A`` (found among loaded modules)."""
        for module_name, module in list(sys.modules.items()):
            if module is None or module_name.startswith("cfq_shim"):
                continue
            for attribute, value in list(vars(module).items()):
                if value is self and not attribute.startswith("_"):
                    return f"{module_name}:{attribute}"
        raise ImproperlyConfigured(
            f"Cannot find a module-level name for {self!r}: assign the app to a module attribute, or run "
            "`cfq-shim -A module:attribute worker`."
        )

    def worker_main(self, argv: Sequence[str] | None = None) -> None:
        """Run ``cfq-shim -A <this app> <argv>`` (Celery's ``app.worker_main(['worker', '-l', 'info'])``)."""
        argv = list(argv or ["worker"])
        if not argv or argv[0].startswith("-"):
            argv.insert(0, "worker")
        _command_line().main(args=["-A", self.app_spec(), *argv])

    def start(self, argv: Sequence[str] | None = None) -> None:
        """Run ``cfq-shim -A <this app> <argv>`` (Celery's ``app.start()``)."""
        argv = list(argv if argv is not None else sys.argv[1:])
        _command_line().main(args=["-A", self.app_spec(), *argv])


#: The ``cfq-shim`` command line that :meth:`Celery.start` and :meth:`Celery.worker_main` run. The CLI sits
#: on top of this facade (it loads apps through it), so it is named here and resolved when one of those
#: methods runs, the way the CLI itself names its sub-commands: importing it would make the facade
#: depend on the layer above it (issue 7's app <-> cli cycle).
COMMAND_LINE = "cfq_shim.cli:main"


def _command_line() -> Any:
    module_name, _, attribute = COMMAND_LINE.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _unpickle_app(cls: type[Celery], main: str | None, changes: dict[str, Any]) -> Celery:
    return cls(main, set_as_current=False, changes=changes)


# ``current_app`` with no app yet makes this one (as Celery does); cfq_shim.local sits below this module.
set_default_app_factory(lambda: Celery("default", set_as_current=True))
