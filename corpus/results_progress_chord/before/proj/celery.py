import os

from celery import Celery

app = Celery(
    "proj",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
    backend=os.environ.get("RESULTS_URL", "db+sqlite:///results.sqlite3"),
    include=["proj.tasks"],
)
app.conf.task_track_started = True
