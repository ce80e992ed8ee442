import os
import time
from pathlib import Path

try:  # Django 6
    from django.tasks import task
    from django.tasks.signals import task_finished, task_started
except ImportError:  # the django-tasks backport, on older Django
    from django_tasks import task
    from django_tasks.signals import task_finished, task_started

RUNS = Path(os.environ["WORK_DIR"]) / "runs.txt"


@task
def add(x, y):
    return x + y


@task
def fail(reason):
    raise LookupError(reason)


@task(takes_context=True)
def whoami(context, label):
    task_result = context.task_result
    return {"label": label, "id": task_result.id, "attempt": context.attempt, "queue_name": task_result.task.queue_name}


@task
async def double(x):
    return 2 * x


@task(queue_name="emails")
def send_email(to):
    return ("sent", to)  # a tuple comes back as a list, as Django's JSON normalisation makes it


@task
def gated(name):
    """Runs until the test creates the file ``name`` in WORK_DIR, so the test sees it RUNNING."""
    gate = Path(os.environ["WORK_DIR"]) / name
    deadline = time.monotonic() + 60
    while not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{gate} never appeared")
        time.sleep(0.02)
    return name


@task
def unjsonable():
    return {"a", "set"}  # Django's JSON normalisation refuses it: the task fails with TypeError


def _shout(text):
    return text.upper()


# Wrapped under another name: the module path (greetings.tasks._shout) is the bare function, so a worker
# could not find this Task; enqueue() refuses it.
shout = task(_shout)


def _note(signal_name):
    def receiver(sender, task_result, **kwargs):
        with RUNS.open("a") as runs:
            runs.write(f"{signal_name} {task_result.id} {task_result.status} {sender.__name__}\n")
    return receiver


# Django's signals, sent by the worker around each run.
task_started.connect(_note("started"), weak=False)
task_finished.connect(_note("finished"), weak=False)
