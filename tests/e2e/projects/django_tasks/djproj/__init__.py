# As in Celery's Django guide: importing the project imports its app, so it is the current app.
from .celery import app as celery_app

__all__ = ["celery_app"]
