"""``-A/--app``: find the application the way Celery's ``find_app`` does.

Accepted forms, tried in Celery's order:

- ``proj.celery:app``: import ``proj.celery``, take its ``app`` attribute;
- ``proj.celery.app``: the same, when the last part is an attribute and not a module;
- ``proj``: a module; its ``app`` attribute, else its ``celery`` attribute, else (for a package) the
  ``proj.celery`` module looked up the same way, else the only application defined in the module.

The current directory goes first on ``sys.path``, as with ``celery -A``, so ``cfq-shim -A proj worker`` works
from a project's root without installing it. Failures raise :class:`AppNotFound` with a message that names
the spec and the cause; the CLI prints it without a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any

from .app import Celery

__all__ = ["AppNotFound", "load_app", "is_shim_app"]


class AppNotFound(ImportError):
    """The ``-A`` spec does not lead to a cfq_shim application (the message says why)."""


def is_shim_app(obj: Any) -> bool:
    """True for an instance of :class:`cfq_shim.Celery` (or a subclass)."""
    return isinstance(obj, Celery)


def _is_real_celery_app(obj: Any) -> bool:
    return any(
        cls.__module__.split(".")[0] == "celery" and cls.__name__ == "Celery" for cls in type(obj).__mro__
    )


def _ensure_cwd_on_path() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _import(module_name: str, spec: str) -> ModuleType:
    """Import ``module_name``. A missing module *named by the spec* becomes :class:`AppNotFound`; an
    ImportError raised inside the user's code is reported with the module that raised it."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise AppNotFound(
                f"Cannot load the application {spec!r}: there is no module named {missing!r} "
                f"(searched from {os.getcwd()!r} and sys.path)."
            ) from None
        raise AppNotFound(
            f"Cannot load the application {spec!r}: importing {module_name!r} failed: {exc}"
        ) from exc
    except ImportError as exc:
        raise AppNotFound(
            f"Cannot load the application {spec!r}: importing {module_name!r} failed: {exc}"
        ) from exc


def _symbol_by_name(spec: str) -> Any:
    """``a.b:c`` -> attribute ``c`` of module ``a.b``; ``a.b.c`` -> attribute ``c`` of ``a.b`` or module
    ``a.b.c``; ``a`` -> module ``a``."""
    if ":" in spec:
        module_name, _, attr_path = spec.partition(":")
        obj: Any = _import(module_name, spec)
        for part in attr_path.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise AppNotFound(
                    f"Cannot load the application {spec!r}: module {module_name!r} has no attribute {attr_path!r}."
                ) from None
        return obj
    module_name, _, attr = spec.rpartition(".")
    if module_name:
        # Celery tries "module.attr" first and falls back to importing the whole dotted name.
        try:
            module = _import(module_name, spec)
        except AppNotFound:
            return _import(spec, spec)
        if hasattr(module, attr):
            return getattr(module, attr)
    return _import(spec, spec)


def _find_in_module(module: ModuleType, spec: str) -> Any:
    def is_app(obj: Any) -> bool:
        return is_shim_app(obj) or _is_real_celery_app(obj)

    for attr in ("app", "celery"):
        found = getattr(module, attr, None)
        if is_app(found):
            return found
    if getattr(module, "__path__", None):
        try:
            sub = _import(f"{module.__name__}.celery", spec)
        except AppNotFound:
            sub = None
        if sub is not None:
            return _find_in_module(sub, spec)
    apps = [value for value in vars(module).values() if is_app(value)]
    if apps:
        return apps[0]
    raise AppNotFound(
        f"Cannot load the application {spec!r}: module {module.__name__!r} defines no 'app' or 'celery' "
        f"attribute and no application. Use 'module:attribute', for example '{module.__name__}:app'."
    )


def load_app(spec: str) -> Celery:
    """The :class:`cfq_shim.Celery` application named by ``spec`` (see the module docstring)."""
    if not spec or not spec.strip():
        raise AppNotFound("No application given: pass -A/--app (for example '-A proj' or '-A proj.celery:app').")
    spec = spec.strip()
    _ensure_cwd_on_path()
    found = _symbol_by_name(spec)
    if isinstance(found, ModuleType) and ":" not in spec:
        found = _find_in_module(found, spec)
    if _is_real_celery_app(found):
        raise AppNotFound(
            f"{spec!r} is a celery.Celery application, not a cfq_shim one. Change its import to "
            "'from cfq_shim import Celery' (`celery2cfq rewrite` does it for a whole project)."
        )
    if not is_shim_app(found):
        raise AppNotFound(
            f"{spec!r} is a {type(found).__name__}, not a cfq_shim.Celery application."
        )
    return found
