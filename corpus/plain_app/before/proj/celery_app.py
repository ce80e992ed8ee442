"""The Celery app, configured with literal URLs."""
from celery import Celery

app = Celery(
    "proj",
    broker="redis://:s3cret@localhost:6379/0",  # local Redis
    backend="redis://localhost:6379/1",
    include=["proj.tasks"],
)

app.conf.update(
    task_serializer="json",
    broker_transport_options={"visibility_timeout": 3600},
    CELERY_TASK_RESULT_EXPIRES=3600,
)
