"""The Django fix-up: what Celery's ``celery.fixups.django`` does for a Django project, in the shim.

It applies when ``DJANGO_SETTINGS_MODULE`` is set and Django is installed (checked when the app is
created, without importing Django; nothing here imports Django otherwise). Then:

- **before the tasks modules are imported** (the first ``app.tasks``, a worker start, ``autodiscover_tasks``,
  ``cfq-shim inspect``/``purge``/``provision``): ``django.setup()``, unless Django is set up already or is
  setting itself up. A tasks module that imports its models then loads, and ``autodiscover_tasks()`` finds
  the installed apps;
- **around each task a worker runs** (``task_prerun`` and ``task_postrun``, not in eager mode): the
  thread's database connections are closed, so no task inherits a connection a previous task left broken
  or stale, and the caches are closed after the task. This is what Celery 5.7 does (it closes every
  initialized connection; ``CONN_MAX_AGE`` does not keep them open across tasks in a worker);
- **in each prefork child** (``worker_process_init``): the connections inherited from the worker process are
  dropped without talking to the database (their sockets are closed first, so the parent's connections
  stay usable), and a spawned child, which never saw ``worker_init``, gets the task hooks too;
- **tasks** are :class:`DjangoTask` unless the app has a task class of its own (``task_cls=``, a subclass's
  ``Task``): ``task.delay_on_commit(...)`` and ``task.apply_async_on_commit(...)`` send once the current
  database transaction commits (Celery 5.4's ``celery.contrib.django.task.DjangoTask``); with
  ``cfq_transactional_outbox`` on, they write the message into the project's database in that
  transaction instead (cfq_shim/django/outbox);

- **when a worker starts** (:meth:`Celery.import_default_modules`, where Celery sends ``import_modules``):
  Django's system checks run, as Celery's ``validate_models`` does, unless ``CELERY_SKIP_CHECKS`` is set.
  They import the URLconf, and through it the views and every task module the views import: tasks that
  nothing else imports are registered as under Celery. Their findings are not reported (Celery ignores
  them too); an exception they raise (a view that does not import) stops the start with a one-line error.

Not carried over from Celery: ``CELERY_DB_REUSE_MAX``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any, Mapping

from .. import signals
from ..exceptions import FixupWarning, ImproperlyConfigured
from ..task import Task

if TYPE_CHECKING:  # pragma: no cover
    from ..app import Celery

__all__ = ["SETTINGS_ENVVAR", "DjangoFixup", "DjangoTask", "fixup"]

logger = logging.getLogger("cfq_shim.fixups.django")

#: Django's own variable: when it is set, the app is a Django project's.
SETTINGS_ENVVAR = "DJANGO_SETTINGS_MODULE"
#: Celery's variable: when set (to anything), the worker does not run Django's system checks.
SKIP_CHECKS_ENVVAR = "CELERY_SKIP_CHECKS"


def fixup(app: "Celery", *, environ: Mapping[str, str] | None = None) -> "DjangoFixup | None":
    """Install the Django fix-up on ``app`` when ``DJANGO_SETTINGS_MODULE`` is set and Django is
    installed; warn (:class:`FixupWarning`) when it is set and Django is missing."""
    settings_module = (os.environ if environ is None else environ).get(SETTINGS_ENVVAR)
    if not settings_module:
        return None
    if importlib.util.find_spec("django") is None:
        warnings.warn(
            FixupWarning(f"{SETTINGS_ENVVAR} is set ({settings_module!r}) but Django is not installed: "
                         "the Django fix-up is not applied."),
            stacklevel=3,
        )
        return None
    return DjangoFixup(app, settings_module=settings_module).install()


class DjangoTask(Task):
    """The task class of a Django project's app: sending can wait for the database transaction."""

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> Any:
        """``delay(*args, **kwargs)`` once the current transaction commits (at once outside one).
        Returns None, as Celery: there is no task id before the commit. With the transactional outbox
        (``cfq_transactional_outbox``), the message is written into the database in this transaction
        instead, and its AsyncResult is returned."""
        if self._writes_to_outbox():
            return _transactional_outbox().write(self.app, functools.partial(self.delay, *args, **kwargs))
        from django.db import transaction

        transaction.on_commit(functools.partial(self.delay, *args, **kwargs))
        return None

    def apply_async_on_commit(self, *args: Any, using: str | None = None, **kwargs: Any) -> Any:
        """``apply_async(*args, **kwargs)`` once the current transaction of ``using`` (the default
        database unless given) commits; as :meth:`delay_on_commit` with the transactional outbox."""
        if self._writes_to_outbox():
            return _transactional_outbox().write(self.app, functools.partial(self.apply_async, *args, **kwargs),
                                                 using=using)
        from django.db import transaction

        transaction.on_commit(functools.partial(self.apply_async, *args, **kwargs), using=using)
        return None

    def _writes_to_outbox(self) -> bool:
        # Eager calls run at commit, as Celery's: there is no message to write.
        conf = self.app.conf
        return bool(conf.cfq_transactional_outbox) and not conf.task_always_eager


def _transactional_outbox() -> Any:
    """The transactional outbox's writer, imported when first used: it imports Django's models."""
    from ..django.outbox import enqueue

    return enqueue


class DjangoFixup:
    """Sets Django up before tasks are imported and keeps database connections out of the way of tasks."""

    def __init__(self, app: "Celery", *, settings_module: str) -> None:
        self.app = app
        self.settings_module = settings_module
        #: The process that installed the fix-up: connections seen in another process were inherited.
        self._pid = os.getpid()
        self._uid = f"cfq_shim.fixups.django:{id(self):x}"
        self.task_hooks_installed = False

    def install(self) -> "DjangoFixup":
        # As Celery: the project directory is importable (``cfq-shim -A`` also puts it first).
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        if type(self.app).Task is Task and "Task" not in vars(self.app):
            self.app.Task = DjangoTask  # as Celery, unless the project chose its own task class
        signals.worker_init.connect(self.on_worker_init, dispatch_uid=f"{self._uid}:worker_init")
        signals.worker_process_init.connect(self.on_worker_process_init, dispatch_uid=f"{self._uid}:process_init")
        return self

    # -- before tasks modules are imported -------------------------------------------------------------
    def on_import_modules(self) -> None:
        """``django.setup()``, once: skipped when Django is ready, or when this runs from inside Django's
        own set-up (an app's ``ready()`` that reaches the tasks)."""
        from django.apps import apps

        if apps.ready or apps.loading:
            return
        import django

        try:
            django.setup()
        except Exception as exc:  # a missing settings module, a broken INSTALLED_APPS entry...
            raise ImproperlyConfigured(
                f"Django could not be set up ({SETTINGS_ENVVAR}={self.settings_module!r}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def validate_models(self) -> None:
        """Celery's worker start: ``django.setup()``, then Django's system checks (``CELERY_SKIP_CHECKS``
        skips them). The URL checks import the URLconf, its views and the task modules they import."""
        self.on_import_modules()
        if os.environ.get(SKIP_CHECKS_ENVVAR):
            return
        from django.core.checks import run_checks

        try:
            run_checks()
        except Exception as exc:  # a view or URLconf that does not import
            raise ImproperlyConfigured(
                f"Django's system checks, run as the worker starts (as Celery does), failed: "
                f"{type(exc).__name__}: {exc}. Fix it, or set {SKIP_CHECKS_ENVVAR}=1 to skip the checks "
                "(tasks that only views import are then not registered)."
            ) from exc

    def installed_apps(self) -> list[str]:
        """The installed apps' packages, for ``autodiscover_tasks()`` without arguments."""
        from django.apps import apps

        self.on_import_modules()
        return [config.name for config in apps.get_app_configs()]

    # -- worker -----------------------------------------------------------------------------------------
    def on_worker_init(self, sender: Any = None, **kwargs: Any) -> None:
        if sender is not None and getattr(sender, "app", self.app) is not self.app:
            return  # another app's worker: its own fix-up handles it
        self.on_import_modules()
        self.install_task_hooks()
        # Connections opened while the project was imported must not be shared with the first task.
        self.close_database()
        self.close_cache()

    def install_task_hooks(self) -> None:
        signals.task_prerun.connect(self.on_task_prerun, dispatch_uid=f"{self._uid}:prerun")
        signals.task_postrun.connect(self.on_task_postrun, dispatch_uid=f"{self._uid}:postrun")
        self.task_hooks_installed = True

    def on_worker_process_init(self, **kwargs: Any) -> None:
        if os.getpid() != self._pid:
            self._forget_inherited_connections()
        self.install_task_hooks()
        self.close_database()
        self.close_cache()

    def on_task_prerun(self, sender: Any = None, **kwargs: Any) -> None:
        if not _is_eager(sender):
            self.close_database()

    def on_task_postrun(self, sender: Any = None, **kwargs: Any) -> None:
        if not _is_eager(sender):
            self.close_database()
            self.close_cache()

    # -- connections -------------------------------------------------------------------------------------
    def close_database(self) -> None:
        """Close this thread's open database connections (Django opens a new one on next use)."""
        from django.db import DatabaseError, InterfaceError

        for connection in _initialized_connections():
            try:
                connection.close()
            except InterfaceError:
                pass
            except DatabaseError as exc:
                text = str(exc)
                if "closed" not in text and "not connected" not in text:
                    raise

    def close_cache(self) -> None:
        from django.core.cache import close_caches

        with contextlib.suppress(TypeError, AttributeError):
            close_caches()

    def _forget_inherited_connections(self) -> None:
        """In a forked child: close the sockets of the parent's connections before closing them, so that
        closing sends nothing on a socket the parent still uses (Celery does the same)."""
        from django.db import InterfaceError

        for connection in _initialized_connections():
            raw = getattr(connection, "connection", None)
            fileno = getattr(raw, "fileno", None)
            if raw is None or not callable(fileno):
                continue  # SQLite has no socket
            try:
                with connection.wrap_database_errors:
                    os.close(fileno())
            except (InterfaceError, OSError, TypeError, AttributeError):
                pass


def _initialized_connections() -> list[Any]:
    from django.db import connections

    try:
        return list(connections.all(initialized_only=True))
    except TypeError:  # Django < 4.1
        return list(connections.all())


def _is_eager(task: Any) -> bool:
    return bool(getattr(getattr(task, "request", None), "is_eager", False))
