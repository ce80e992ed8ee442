"""A Flask-style status route: it passed the rewrite silently before, and failed at run time."""
from app.worker import celery_app, long_task


def start(steps):
    job = long_task.delay(steps)
    return {"id": job.id}


def status(task_id):
    job = long_task.AsyncResult(task_id)
    if job.state == "PENDING":
        return {"state": job.state}
    return {"state": job.state, "info": job.info, "done": job.ready()}


def status_by_app(task_id):
    return celery_app.AsyncResult(task_id).status
