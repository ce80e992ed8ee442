SECRET_KEY = "registration-layouts-only"
INSTALLED_APPS = ["mail", "activity.apps.ActivityConfig", "billing"]
ROOT_URLCONF = "portal.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
CELERY_TASK_DEFAULT_QUEUE = "default"
