import os

from cfq_shim.schedules import crontab

SECRET_KEY = "dev"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django_celery_beat",
    "orders",
]

# Celery
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "cloudflare://")
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_ACKS_LATE = True
CELERY_BROKER_VISIBILITY_TIMEOUT = 43200
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "expire-carts": {
        "task": "orders.tasks.expire_carts",
        "schedule": crontab(minute="*/15"),
    },
}
