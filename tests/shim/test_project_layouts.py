"""Real project layouts, end to end: the Django-style layout (settings read through a namespace, tasks found
by autodiscovery, ``@shared_task`` in app packages) and Flask's make_celery pattern, each sending tasks from
one process and running them in a real ``cfq-shim -A proj worker`` process on a SQLite file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

DEADLINE_SECONDS = 60  # a safety net: the loop ends as soon as the work is done


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def run_worker_until(root: Path, app_spec: str, done) -> str:
    log = root / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", app_spec, "worker", "-P", "threads", "-c", "2",
                                   "-l", "info"], cwd=root, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not done():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return log.read_text()


def test_django_style_project(tmp_path):
    write(tmp_path, {
        "proj/__init__.py": "from .celery import app as celery_app\n__all__ = ('celery_app',)\n",
        "proj/settings.py": f"""
            INSTALLED_APPS = ["shop", "billing"]
            SECRET_KEY = "not-used"
            CELERY_BROKER_URL = "sqlite:///{tmp_path}/queues.sqlite3"
            CELERY_TASK_ROUTES = {{"billing.tasks.*": {{"queue": "billing"}}}}
            CELERY_TASK_DEFAULT_QUEUE = "default"
        """,
        "proj/celery.py": """
            from cfq_shim import Celery
            from proj import settings

            app = Celery("proj")
            app.config_from_object("proj.settings", namespace="CELERY")
            app.autodiscover_tasks(lambda: settings.INSTALLED_APPS)
        """,
        "shop/__init__.py": "",
        "shop/tasks.py": f"""
            from cfq_shim import shared_task
            from cfq_shim.log import get_task_logger

            logger = get_task_logger(__name__)

            @shared_task(bind=True, autoretry_for=(ConnectionError,), retry_kwargs={{"countdown": 0}}, max_retries=3)
            def ship(self, order_id):
                if self.request.retries == 0:
                    raise ConnectionError("carrier down")
                with open({str(tmp_path / "done.jsonl")!r}, "a") as out:
                    out.write(__import__("json").dumps(["ship", order_id, self.request.retries]) + "\\n")
        """,
        "billing/__init__.py": "",
        "billing/tasks.py": f"""
            from datetime import date
            from decimal import Decimal
            from cfq_shim import shared_task

            @shared_task
            def invoice(order_id, amount, due):
                assert isinstance(amount, Decimal) and isinstance(due, date)
                with open({str(tmp_path / "done.jsonl")!r}, "a") as out:
                    out.write(__import__("json").dumps(["invoice", order_id, str(amount), due.isoformat()]) + "\\n")
        """,
    })
    send = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from datetime import date
        from decimal import Decimal
        from proj import celery_app
        from shop.tasks import ship
        from billing.tasks import invoice
        for order in (1, 2):
            ship.delay(order)
            invoice.delay(order, Decimal("9.90"), date(2026, 12, 1))
        print(celery_app.queues())
    """)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert send.returncode == 0, send.stderr
    assert send.stdout.strip() == "['billing', 'default']"
    done = tmp_path / "done.jsonl"

    def finished():
        return done.exists() and len(done.read_text().splitlines()) == 4

    log = run_worker_until(tmp_path, "proj", finished)
    rows = sorted(json.loads(line) for line in done.read_text().splitlines())
    assert rows == [["invoice", 1, "9.90", "2026-12-01"], ["invoice", 2, "9.90", "2026-12-01"],
                    ["ship", 1, 1], ["ship", 2, 1]]
    assert "shop.tasks.ship" in log and "billing.tasks.invoice" in log


def test_flask_make_celery_pattern(tmp_path):
    write(tmp_path, {
        "webapp.py": f"""
            from cfq_shim import Celery

            class FakeFlask:
                def __init__(self):
                    self.config = {{"DEBUG": False, "SECRET_KEY": "x",
                                    "CELERY_BROKER_URL": "sqlite:///{tmp_path}/queues.sqlite3"}}
                    self.contexts = 0

                def app_context(self):
                    flask_app = self

                    class Context:
                        def __enter__(self):
                            flask_app.contexts += 1

                        def __exit__(self, *exc):
                            return False

                    return Context()

            def make_celery(flask_app):
                celery = Celery("webapp", broker=flask_app.config["CELERY_BROKER_URL"])
                celery.conf.update(flask_app.config)

                class ContextTask(celery.Task):
                    def __call__(self, *args, **kwargs):
                        with flask_app.app_context():
                            return self.run(*args, **kwargs)

                celery.Task = ContextTask
                return celery

            flask_app = FakeFlask()
            celery = make_celery(flask_app)

            @celery.task
            def record(value):
                with open({str(tmp_path / "done.txt")!r}, "a") as out:
                    out.write(f"{{value}} in context {{flask_app.contexts}}\\n")
        """,
    })
    send = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", "from webapp import record\nrecord.delay('a')\n"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert send.returncode == 0, send.stderr  # Flask's own settings raise no warning
    done = tmp_path / "done.txt"
    run_worker_until(tmp_path, "webapp:celery", lambda: done.exists() and done.read_text())
    assert done.read_text() == "a in context 1\n"
