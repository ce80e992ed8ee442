import os

WORK_DIR = os.environ["WORK_DIR"]

SECRET_KEY = "django-tasks-test"
USE_TZ = True
# TASKS_FRAMEWORK=backport: Django < 6 with the django-tasks backport (an app of its own).
BACKPORT = os.environ.get("TASKS_FRAMEWORK") == "backport"
INSTALLED_APPS = ["django_tasks", "greetings"] if BACKPORT else ["greetings"]
DATABASES = {}

CELERY_BROKER_URL = f"sqlite:///{WORK_DIR}/queues.sqlite3"
CELERY_RESULT_BACKEND = f"sqlite:///{WORK_DIR}/results.sqlite3"

TASKS = {
    "default": {
        "BACKEND": "cfq_shim.django.tasks.CloudflareQueuesBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {"APP": "djproj.celery:app"},
    },
    # A project with no proj/celery.py of its own would use cfq_shim's ready-made app; its worker here is
    # `cfq-shim -A cfq_shim.django.app worker -Q standalone`.
    "standalone": {
        "BACKEND": "cfq_shim.django.tasks.CloudflareQueuesBackend",
        "QUEUES": ["standalone"],
        "OPTIONS": {"APP": "cfq_shim.django.app:app"},
    },
    # Django's own reference backend: runs the task at enqueue(), in this process.
    "immediate": {
        "BACKEND": ("django_tasks" if BACKPORT else "django.tasks") + ".backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "emails"],
    },
    "noresults": {
        "BACKEND": "cfq_shim.django.tasks.CloudflareQueuesBackend",
        "OPTIONS": {"APP": "djproj.noresults:app"},
    },
}
