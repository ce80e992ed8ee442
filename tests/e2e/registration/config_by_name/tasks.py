from celery import Celery

app = Celery("tasks")
app.config_from_object("celeryconfig")


@app.task
def hello(name):
    return f"hello {name}"
