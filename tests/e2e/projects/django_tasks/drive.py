"""Runs Python given on the command line inside the configured Django project (the "web" process that
enqueues and reads results) and prints what it leaves in ``out`` as JSON.

Helpers in scope: ``wait(result)`` polls ``result.refresh()`` until the task finishes, and
``describe(result)`` turns a TaskResult into JSON; an exception is printed as ``{"error": [class, message]}``.
"""
import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproj.settings")
import django  # noqa: E402

django.setup()


def wait(result, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not result.is_finished:
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {result.id} still {result.status} after {timeout}s")
        time.sleep(0.05)
        result.refresh()
    return result


def describe(result):
    def moment(value):
        return None if value is None else value.isoformat()

    described = {
        "id": result.id, "status": str(result.status), "task": result.task.module_path,
        "queue_name": result.task.queue_name, "backend": result.backend, "args": result.args,
        "kwargs": result.kwargs, "enqueued_at": moment(result.enqueued_at), "started_at": moment(result.started_at),
        "finished_at": moment(result.finished_at), "last_attempted_at": moment(result.last_attempted_at),
        "worker_ids": result.worker_ids, "attempts": result.attempts, "is_finished": result.is_finished,
        "errors": [{"exception_class_path": error.exception_class_path, "traceback": error.traceback}
                   for error in result.errors],
    }
    try:
        described["return_value"] = result.return_value
    except ValueError as exc:
        described["return_value_error"] = str(exc)
    return described


namespace = {"wait": wait, "describe": describe, "out": None}
try:
    exec(sys.argv[1], namespace)  # noqa: S102 - the test's own code
except Exception as exc:  # noqa: BLE001 - reported to the test
    namespace["out"] = {"error": [f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc)]}
print(json.dumps(namespace["out"]))
