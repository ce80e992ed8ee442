import time

from celery import shared_task
from celery.signals import task_failure
from celery.utils.log import get_task_logger
from e2e_events import record

from .celery import app

logger = get_task_logger(__name__)


class PaymentDeclined(Exception):
    pass


class RatesUnavailable(ConnectionError):
    pass


@app.task
def add(key, x, y):
    record("run", key=key, retries=add.request.retries)
    total = x + y
    record("result", key=key, value=total)
    return total


@shared_task(bind=True, max_retries=3)
def charge(self, key, failures):
    """Declined ``failures`` times, then accepted; retried by hand with self.retry."""
    record("run", key=key, retries=self.request.retries)
    if self.request.retries < failures:
        raise self.retry(exc=PaymentDeclined(f"declined {key}"), countdown=0)
    record("result", key=key, value=f"charged {key}")
    return f"charged {key}"


@app.task(autoretry_for=(RatesUnavailable,), retry_kwargs={"max_retries": 2, "countdown": 0})
def fetch_rates(key, failures):
    """Unavailable ``failures`` times, then answers; retried by autoretry_for."""
    retries = fetch_rates.request.retries
    record("run", key=key, retries=retries)
    if retries < failures:
        raise RatesUnavailable(f"no rates for {key}")
    rates = {"EUR": 1, "USD": 2}
    record("result", key=key, value=rates)
    return rates


@shared_task(bind=True)
def label(self, key):
    """Prints a shipping label: the caller chose the task id and passed the tenant as a message header."""
    record("run", key=key, retries=self.request.retries)
    text = f"{getattr(self.request, 'tenant', None)}/{self.request.id}"
    record("result", key=key, value=text)
    return text


@app.task(bind=True)
def pack(self, key, seconds):
    """Packs a parcel slowly (the reliability test kills a worker while it runs)."""
    record("run", key=key, retries=self.request.retries)
    time.sleep(seconds)
    record("result", key=key, value="packed")
    return "packed"


@shared_task
def explode(key):
    record("run", key=key, retries=0)
    logger.info("about to fail for %s", key)
    raise ValueError(f"boom {key}")


@task_failure.connect
def record_failure(sender=None, task_id=None, exception=None, args=None, kwargs=None, **extra):
    key = args[0] if args else kwargs["key"]
    record("failed", key=key, task=sender.name, exc=type(exception).__name__)
