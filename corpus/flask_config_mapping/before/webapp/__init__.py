"""Flask's documented Celery integration, with the Celery settings in the Flask config."""
from celery import Celery, Task
from flask import Flask


class Config:
    CELERY = {
        "broker_url": "redis://:secret@localhost:6379/0",  # credentials never reach the output
        "task_ignore_result": True,
    }


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    return celery_app


def create_app(testing=False) -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config)
    if testing:
        app.config.from_mapping(CELERY=dict(broker_url="amqp://guest@rabbit//", task_always_eager=True))
    celery_init_app(app)
    return app
