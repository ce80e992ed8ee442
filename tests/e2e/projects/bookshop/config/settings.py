import os

SECRET_KEY = "e2e-tests-only-not-a-secret"
DEBUG = False
INSTALLED_APPS = ["orders"]
DATABASES = {}
USE_TZ = True
SHOP_NAME = "Bookshop"

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_DEFAULT_QUEUE = "bookshop"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
