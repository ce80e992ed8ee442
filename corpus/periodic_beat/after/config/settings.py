import os

from cfq_shim.schedules import crontab

SECRET_KEY = "e2e-tests-only-not-a-secret"
DEBUG = False
INSTALLED_APPS = ["clinic"]
DATABASES = {}
USE_TZ = True
TIME_ZONE = "Europe/Berlin"

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "cloudflare://")
CELERY_TIMEZONE = "Europe/Berlin"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "clinic.tasks.heartbeat", "schedule": 1.0, "args": ("settings",)},
    "nightly-cleanup": {"task": "clinic.tasks.cleanup", "schedule": crontab(hour=3, minute=30)},
}
