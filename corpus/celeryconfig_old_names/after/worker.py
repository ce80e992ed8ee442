from cfq_shim import Celery

app = Celery("worker")
app.config_from_object("celeryconfig")


@app.task
def ping():
    return "pong"
