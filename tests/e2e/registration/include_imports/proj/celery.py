from celery import Celery

app = Celery("proj", include=["proj.tasks", "proj.extra.tasks"])
app.conf.imports = ("proj.periodic",)


@app.task
def ping():
    return "pong"
