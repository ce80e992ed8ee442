"""The current app and the task being executed, per thread.

``current_app`` is the app set most recently on this thread (by creating one, or by
``app.set_current()``), else the default app. Celery makes a default app on first use when none
exists; so does this module, so ``current_app.conf`` always works. It does so through the factory
``app.py`` registers when it is imported (:func:`set_default_app_factory`): this module sits below the
app and never imports it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery
    from .task import Task

__all__ = [
    "current_app", "current_task", "get_current_app", "get_current_task", "is_fallback_app", "set_default_app",
    "set_default_app_factory", "Proxy",
]


class _State(threading.local):
    current_app: "Celery | None" = None

    def __init__(self) -> None:
        self.task_stack: list["Task"] = []


_tls = _State()
_default_app: "Celery | None" = None
#: Makes the default app when none exists (set by cfq_shim.app, which the package imports first).
_default_app_factory: "Callable[[], Celery] | None" = None
#: The app the factory made because the process had created none (see is_fallback_app).
_fallback_app: "Celery | None" = None
_apps_lock = threading.Lock()


def set_default_app_factory(factory: "Callable[[], Celery]") -> None:
    """Register what :func:`get_current_app` calls when no app exists yet (``app.py`` does, on import)."""
    global _default_app_factory
    _default_app_factory = factory


def set_default_app(app: "Celery") -> None:
    global _default_app
    _default_app = app


def set_current_app(app: "Celery") -> None:
    _tls.current_app = app


def get_current_app() -> "Celery":
    global _fallback_app
    app = _tls.current_app or _default_app
    if app is None:
        with _apps_lock:
            if _default_app is None:
                if _default_app_factory is None:
                    raise RuntimeError("no cfq_shim app exists and cfq_shim.app is not imported: import cfq_shim")
                _fallback_app = _default_app_factory()
                set_default_app(_fallback_app)
            app = _default_app
    assert app is not None
    return app


def is_fallback_app(app: "Celery") -> bool:
    """True for the unconfigured app :func:`get_current_app` made because this process created none.

    Code that sends on the current app's behalf can refuse it: its settings are the defaults (the embedded
    store in the working directory), so no worker of the project would read what is sent through it."""
    return app is _fallback_app


def push_task(task: "Task") -> None:
    _tls.task_stack.append(task)


def pop_task() -> None:
    _tls.task_stack.pop()


def get_current_task() -> "Task | None":
    stack = _tls.task_stack
    return stack[-1] if stack else None


def get_current_worker_task() -> "Task | None":
    """The innermost task run by a worker or ``apply()`` (not one called directly)."""
    for task in reversed(_tls.task_stack):
        if not task.request.called_directly:
            return task
    return None


class Proxy:
    """Forwards every attribute to the object a function returns, looked up on each use."""

    __slots__ = ("_get",)

    def __init__(self, get: Callable[[], Any]) -> None:
        object.__setattr__(self, "_get", get)

    def _get_current_object(self) -> Any:
        return self._get()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._get()(*args, **kwargs)

    def __bool__(self) -> bool:
        return bool(self._get())

    def __eq__(self, other: Any) -> bool:
        return self._get() == other

    def __hash__(self) -> int:
        return hash(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


current_app: Any = Proxy(get_current_app)
current_task: Any = Proxy(get_current_task)
