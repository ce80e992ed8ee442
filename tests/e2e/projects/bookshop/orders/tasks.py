from celery import shared_task
from celery.signals import task_failure
from django.apps import apps
from django.conf import settings
from e2e_events import record

from .models import Order


class OutOfStock(Exception):
    pass


@shared_task(bind=True, max_retries=2)
def confirm_order(self, key, order_id):
    # Tasks use the ORM, so the worker must have set Django up (django.setup()) before importing them.
    record("run", key=key, retries=self.request.retries, django_ready=apps.ready, model=Order._meta.label)
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    confirmation = f"{settings.SHOP_NAME} order #{order_id} confirmed"
    record("result", key=key, value=confirmation)
    return confirmation


@shared_task(autoretry_for=(OutOfStock,), retry_kwargs={"max_retries": 1, "countdown": 0})
def restock(key, sku):
    record("run", key=key, retries=restock.request.retries)
    raise OutOfStock(sku)


@shared_task
def failure_report(key):
    record("run", key=key, retries=0)
    record("result", key=key, value=None)


@task_failure.connect
def report_failure(sender=None, args=None, kwargs=None, exception=None, **extra):
    record("failed", key=args[0], task=sender.name, exc=type(exception).__name__)
