from celery import shared_task
from celery.signals import task_failure
from e2e_events import record
from flask import current_app


class UpstreamTimeout(Exception):
    pass


@shared_task
def greet(key, name):
    # Runs inside the Flask app context that FlaskTask.__call__ opens.
    record("run", key=key, retries=0, flask_app=current_app.name)
    text = f"{current_app.config['GREETING']}, {name}"
    record("result", key=key, value=text)
    return text


@shared_task(bind=True, autoretry_for=(UpstreamTimeout,), retry_kwargs={"max_retries": 1, "countdown": 0})
def ping_upstream(self, key):
    record("run", key=key, retries=self.request.retries)
    raise UpstreamTimeout(key)


@task_failure.connect
def record_failure(sender=None, args=None, kwargs=None, exception=None, **extra):
    record("failed", key=args[0], task=sender.name, exc=type(exception).__name__)
