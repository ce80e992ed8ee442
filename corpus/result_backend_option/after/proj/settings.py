import os

DEBUG = False
INSTALLED_APPS = ["django.contrib.contenttypes", "proj"]

# One Redis for the broker and the results: after the migration the broker is Cloudflare Queues.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "cloudflare://")
CELERY_RESULT_BACKEND = "sqlite:///results.db"
CELERY_TASK_TRACK_STARTED = True
