import os

from celery import Celery

app = Celery(
    "shop",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
    include=["shop.tasks"],
)

app.conf.update(
    task_acks_late=True,
    task_default_queue="shop",
)
