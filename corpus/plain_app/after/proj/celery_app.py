"""The Celery app, configured with literal URLs."""
from cfq_shim import Celery

app = Celery(
    "proj",
    broker="cloudflare://",  # local Redis
    backend="redis://localhost:6379/1",
    include=["proj.tasks"],
)

app.conf.update(
    task_serializer="json",
    broker_visibility_timeout=3600,
    result_expires=3600,
)
