"""What Django's task framework costs on cfq_shim: ``enqueue()`` through ``CloudflareQueuesBackend`` against
``.delay()`` of the same function as a plain cfq_shim task, on the same app, broker and result backend.

    <python with Django 6> bench/django_tasks_throughput.py [--tasks 2000] [--concurrency 2]

Django 6 needs Python >= 3.12; run it with such an interpreter that has Django 6 and this project
installed (``tests/e2e/test_django_tasks.py`` builds one under ``~/.cache/celery2cfq-tests/django6-*``).

For each kind, on fresh embedded-store files (``sqlite:///`` broker and result backend):

- **enqueue**: N calls from one thread, tasks per second (a Django enqueue also writes the result
  record ``get_result()`` reads, and builds a ``TaskResult``);
- **drain**: one ``cfq-shim worker`` process (``-c`` children) on the full queue, tasks per second
  from the first result stored to the last (start-up excluded). A Django task also records its
  attempt, is tracked as started (RUNNING), and sends Django's ``task_started``/``task_finished``.

Prints both and the ratios (Django / plain), and writes bench/results/django_tasks_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

from cfq_shim.results import ResultBackend, open_backend

RESULTS = Path(__file__).parent / "results" / "django_tasks_throughput.json"

SETTINGS = """
import os
WORK = os.environ["BENCH_DIR"]
SECRET_KEY = "bench"
USE_TZ = True
INSTALLED_APPS = ["benchapp"]
DATABASES = {}
CELERY_BROKER_URL = f"sqlite:///{WORK}/queues.sqlite3"
CELERY_RESULT_BACKEND = f"sqlite:///{WORK}/results.sqlite3"
TASKS = {"default": {"BACKEND": "cfq_shim.django.tasks.CloudflareQueuesBackend",
                     "OPTIONS": {"APP": "benchproj.celery:app"}}}
"""

CELERY = """
import os
from cfq_shim import Celery
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
app = Celery("benchproj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
"""

TASKS = """
from cfq_shim import shared_task
from django.tasks import task

@task
def django_add(x, y):
    return x + y

@shared_task
def plain_add(x, y):
    return x + y
"""

ENQUEUE = """
import json, os, sys, time
import django
django.setup()
from benchapp.tasks import django_add, plain_add
kind, count = sys.argv[1], int(sys.argv[2])
send = django_add.enqueue if kind == "django" else plain_add.delay
ids = [send(0, 0).id]  # warm: queue creation, connections
started = time.perf_counter()
for number in range(count - 1):
    ids.append(send(number, 1).id)
print(json.dumps({"seconds": time.perf_counter() - started, "sent": count - 1, "ids": ids}))
"""


def _write_project(root: Path) -> None:
    for relative, text in {
        "benchproj/__init__.py": "from .celery import app as celery_app\n",
        "benchproj/settings.py": SETTINGS,
        "benchproj/celery.py": CELERY,
        "benchapp/__init__.py": "",
        "benchapp/tasks.py": TASKS,
        "enqueue.py": ENQUEUE,
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def _done_times(store: "ResultBackend", ids: list[str]) -> list[float]:
    """``date_done`` of each of ``ids`` that has succeeded; stops the bench on a failure."""
    times = []
    for start in range(0, len(ids), 500):
        for task_id, meta in store.get_many_meta(ids[start:start + 500]).items():
            if meta.get("status") == "FAILURE":
                raise SystemExit(f"task {task_id} failed: {meta.get('result')}")
            if meta.get("status") == "SUCCESS" and meta.get("date_done"):
                times.append(datetime.fromisoformat(meta["date_done"]).timestamp())
    return times


def run_kind(kind: str, count: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-django-{kind}-") as directory:
        root = Path(directory)
        _write_project(root)
        env = {**os.environ, "BENCH_DIR": str(root), "PYTHONPATH": str(root),
               "DJANGO_SETTINGS_MODULE": "benchproj.settings"}
        env.pop("CFQ_SHIM_BROKER_URL", None)
        sent = subprocess.run([sys.executable, "enqueue.py", kind, str(count)], cwd=root, env=env,
                              capture_output=True, text=True, check=True)
        enqueue = json.loads(sent.stdout.strip().splitlines()[-1])
        with open(root / "worker.log", "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "cfq_shim", "-A", "benchproj", "worker", "-c", str(concurrency), "-l", "warning"],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        store = open_backend(f"sqlite:///{root / 'results.sqlite3'}")
        try:
            deadline = time.monotonic() + 300
            while True:
                done = _done_times(store, enqueue["ids"])
                if len(done) >= count:
                    break
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{kind}: the worker stopped or stalled with {len(done)}/{count} done:\n"
                                     + (root / "worker.log").read_text()[-2000:])
                time.sleep(0.5)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            store.close()
        done.sort()
        return {
            "enqueue_per_second": enqueue["sent"] / enqueue["seconds"],
            "drain_per_second": (len(done) - 1) / (done[-1] - done[0]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    options = parser.parse_args()
    try:
        import django.tasks  # noqa: F401
    except ImportError:
        raise SystemExit(
            "django_tasks_throughput: this interpreter has no django.tasks (Django 6, Python >= 3.12); run it "
            "with one that has Django 6 and this project installed, e.g. the virtualenv "
            "tests/e2e/test_django_tasks.py builds under ~/.cache/celery2cfq-tests/django6-*/bin/python"
        ) from None
    import django

    figures = {kind: run_kind(kind, options.tasks, options.concurrency) for kind in ("plain", "django")}
    ratios = {
        "enqueue": figures["django"]["enqueue_per_second"] / figures["plain"]["enqueue_per_second"],
        "drain": figures["django"]["drain_per_second"] / figures["plain"]["drain_per_second"],
    }
    for kind in ("plain", "django"):
        print(f"{kind:>6}: enqueue {figures[kind]['enqueue_per_second']:8.0f} tasks/s   "
              f"drain {figures[kind]['drain_per_second']:8.0f} tasks/s")
    print(f"django / plain: enqueue x{ratios['enqueue']:.2f}, drain x{ratios['drain']:.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "tasks": options.tasks, "concurrency": options.concurrency, "django": django.__version__,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "figures": figures, "ratios": ratios,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
