"""Finding a project's tasks modules, as Celery's ``autodiscover_tasks`` does (``app.autodiscover_tasks``).

Django's app list is read only when Django is already loaded: this module never imports Django.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["import_related_module", "django_installed_apps"]


def import_related_module(package: str, related_name: str) -> None:
    """Import ``<package>.<related_name>`` as Celery's ``find_related_module`` does: a package without that
    module is skipped; a dotted path that is not a module (``shop.apps.ShopConfig``) falls back to its
    parent; any other import error (a broken tasks module) is raised."""
    try:
        importlib.import_module(package)
        if not related_name:
            return
    except ModuleNotFoundError:
        package = package.rpartition(".")[0]
        if not package:
            raise
    module_name = f"{package}.{related_name}"
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise


def django_installed_apps() -> list[str]:
    """Django's app packages: from the app registry when Django is set up, else ``INSTALLED_APPS``.
    Empty when Django is not loaded (the shim never imports it)."""
    django_apps = sys.modules.get("django.apps")
    registry = getattr(django_apps, "apps", None)
    if registry is not None and getattr(registry, "ready", False):
        return [config.name for config in registry.get_app_configs()]
    django_conf = sys.modules.get("django.conf")
    settings = getattr(django_conf, "settings", None)
    try:
        return [getattr(app, "name", app) for app in settings.INSTALLED_APPS]  # type: ignore[union-attr]
    except Exception:  # Django loaded but not configured
        return []
