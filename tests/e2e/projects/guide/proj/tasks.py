from celery import chord, group, shared_task
from celery.utils.log import get_task_logger

from .celery import app

logger = get_task_logger(__name__)


@app.task
def add(x, y):
    return x + y


@shared_task(bind=True, max_retries=3, default_retry_delay=5)
def fetch(self, url):
    try:
        logger.info("fetching %s", url)
        return len(url)
    except OSError as exc:
        raise self.retry(exc=exc)


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, rate_limit="10/m")
def report():
    return "ok"


def fan_out(urls):
    return group(fetch.s(url) for url in urls).apply_async()


def summarize(urls):
    return chord(fetch.s(url) for url in urls)(report.si())


def total(x, y):
    return add.delay(x, y).get(timeout=10)
