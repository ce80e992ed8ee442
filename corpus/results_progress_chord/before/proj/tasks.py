"""A progress page's tasks: update_state progress read through AsyncResult, a chord, starmap."""

from celery import chord
from celery.result import AsyncResult

from .celery import app


@app.task(bind=True)
def crunch(self, n):
    self.update_state(state="PROGRESS", meta={"done": n})
    return n * n


@app.task
def mul(x, y):
    return x * y


@app.task
def xsum(values):
    return sum(values)


@app.task
def explode(key):
    raise KeyError(key)


def status(task_id):
    """What the /status/<task_id> route answers."""
    result = AsyncResult(task_id, app=app)
    return {"state": result.state, "info": result.info if result.state != "FAILURE" else repr(result.info),
            "ready": result.ready()}


def fan_in(numbers):
    return chord(crunch.s(n) for n in numbers)(xsum.s())
