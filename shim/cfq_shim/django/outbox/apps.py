"""The Django app of the transactional outbox (``"cfq_shim.django.outbox"`` in INSTALLED_APPS)."""

from django.apps import AppConfig

from . import APP_LABEL, APP_NAME


class OutboxConfig(AppConfig):
    name = APP_NAME
    label = APP_LABEL
    verbose_name = "cfq-shim transactional outbox"
    default_auto_field = "django.db.models.BigAutoField"
