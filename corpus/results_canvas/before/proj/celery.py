import os

from celery import Celery

app = Celery(
    "proj",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
    backend="redis://localhost:6379/1",
    include=["proj.tasks"],
)
app.conf.result_expires = 3600
