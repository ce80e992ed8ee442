"""A ready-made cfq_shim app for a Django project that has no ``proj/celery.py`` of its own.

It is what Celery's Django guide has a project write: an app configured from Django's settings (the
``CELERY_*`` names: ``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND``, ...) that imports each installed
app's ``tasks`` module. A project that only uses Django's task framework points its backend and its
worker at it::

    TASKS = {"default": {"BACKEND": "cfq_shim.django.tasks.CloudflareQueuesBackend",
                         "OPTIONS": {"APP": "cfq_shim.django.app:app"}}}

    DJANGO_SETTINGS_MODULE=proj.settings cfq-shim -A cfq_shim.django.app worker
"""

from __future__ import annotations

import os

from ..app import Celery
from ..exceptions import ImproperlyConfigured

__all__ = ["app"]


def _django_is_configured() -> bool:
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return True
    from django.conf import settings

    return settings.configured


if not _django_is_configured():
    raise ImproperlyConfigured(
        "cfq_shim.django.app is configured from Django's settings: set DJANGO_SETTINGS_MODULE "
        "(e.g. DJANGO_SETTINGS_MODULE=proj.settings cfq-shim -A cfq_shim.django.app worker)"
    )

app = Celery("django")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
