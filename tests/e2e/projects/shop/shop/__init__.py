# As Celery's "First steps with Django" recommends: the app loads with the package, so @shared_task binds to it.
from .celery import app as celery_app

__all__ = ("celery_app",)
