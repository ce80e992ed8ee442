import os

from celery import Celery
from celery.schedules import crontab

app = Celery(
    "proj",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
    backend="redis://localhost:6379/1",
    include=["proj.tasks"],
)
app.conf.update(
    task_acks_late=True,
    broker_transport_options={"visibility_timeout": 3600},
)
app.conf.beat_schedule = {
    "nightly-report": {"task": "proj.tasks.report", "schedule": crontab(hour=3, minute=0)},
}
