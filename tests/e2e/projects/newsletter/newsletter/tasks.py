from celery import shared_task
from celery.exceptions import Ignore
from celery.signals import task_revoked
from e2e_events import record

from .app import AuditedTask, app

retrying = shared_task(acks_late=True, base=AuditedTask)


@app.task(base=AuditedTask, bind=True, max_retries=2, default_retry_delay=0)
def send_welcome(self, key, address, bounces=0):
    """Bounces ``bounces`` times; self.retry() without an exception, so Celery's own error ends it."""
    record("run", key=key, retries=self.request.retries)
    if self.request.retries < bounces:
        raise self.retry()
    record("result", key=key, value=f"sent to {address}")
    return address


@retrying
def render(key, template, **context):
    record("run", key=key, retries=0)
    text = template.format(**context)
    record("result", key=key, value=text)
    return text


@app.task(base=AuditedTask, bind=True)
def unsubscribe(self, key):
    """Already unsubscribed: the task ignores itself, which is neither a success nor a failure."""
    record("run", key=key, retries=self.request.retries)
    record("result", key=key, value="ignored")
    raise Ignore()


@task_revoked.connect
def record_revoked(sender=None, request=None, expired=False, **extra):
    record("revoked", key=request.args[0], task=sender.name, expired=expired)
