import os

DEBUG = False
INSTALLED_APPS = ["django.contrib.contenttypes", "proj"]

# One Redis for the broker and the results: after the migration the broker is Cloudflare Queues.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_TRACK_STARTED = True
