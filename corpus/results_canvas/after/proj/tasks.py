"""Celery's getting-started canvas, with progress reported through update_state."""
import time

from cfq_shim import chain, chord, group, shared_task
from cfq_shim.result import AsyncResult

from .celery import app


@app.task
def add(x, y):
    return x + y


@app.task
def mul(x, y):
    return x * y


@app.task
def xsum(numbers):
    return sum(numbers)


@shared_task(bind=True)
def crunch(self, total):
    for done in range(total):
        time.sleep(0.01)
        self.update_state(state="PROGRESS", meta={"current": done, "total": total})
    return {"current": total, "total": total}


def pipeline():
    first = chain(add.s(4, 4) | mul.s(8))().get(timeout=10)
    summed = chord(add.s(i, i) for i in range(10))(xsum.s()).get(timeout=10)
    squares = mul.starmap([(2, 2), (3, 3)]).delay().get(timeout=10)
    both = group(add.s(2, 2), add.s(4, 4))().get(timeout=10)
    return first, summed, squares, both


def progress(task_id):
    result = AsyncResult(task_id, app=app)
    if result.state == "PROGRESS":
        return result.info["current"] / result.info["total"]
    return 1.0 if result.ready() else 0.0
