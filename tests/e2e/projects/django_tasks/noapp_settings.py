"""Settings for a process that never creates a cfq_shim app: no OPTIONS["APP"], and outside the project
package (importing djproj would import its app, as Celery's Django guide has proj/__init__.py do)."""
import os

SECRET_KEY = "django-tasks-test"
USE_TZ = True
BACKPORT = os.environ.get("TASKS_FRAMEWORK") == "backport"
INSTALLED_APPS = ["django_tasks", "greetings"] if BACKPORT else ["greetings"]
DATABASES = {}
TASKS = {"default": {"BACKEND": "cfq_shim.django.tasks.CloudflareQueuesBackend", "QUEUES": []}}
