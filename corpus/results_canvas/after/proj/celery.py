import os

from cfq_shim import Celery

app = Celery(
    "proj",
    broker=os.environ.get("CELERY_BROKER_URL", "cloudflare://"),
    backend="redis://localhost:6379/1",
    include=["proj.tasks"],
)
app.conf.result_expires = 3600
