from flask import Flask
from celery import Celery, Task


def make_celery(app):
    celery = Celery(app.import_name, broker=app.config["CELERY_BROKER_URL"])
    celery.conf.update(app.config)

    class ContextTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery.Task = ContextTask
    return celery


flask_app = Flask(__name__)
flask_app.config.update(
    CELERY_BROKER_URL="redis://localhost:6379",
)
celery = make_celery(flask_app)


@celery.task()
def add_together(a, b):
    return a + b


@flask_app.route("/add")
def add_view():
    result = add_together.delay(23, 42)
    return {"id": result.id}
