"""Flask's documented Celery integration ("Background Tasks with Celery", Flask 2.3+)."""
import os

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        GREETING="Hello",
        CELERY=dict(
            broker_url=os.environ.get("CELERY_BROKER_URL", "redis://localhost"),
            task_ignore_result=True,
            include=["webapp.tasks"],
        ),
    )
    celery_init_app(app)
    return app
