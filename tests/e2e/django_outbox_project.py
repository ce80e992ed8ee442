"""A real Django project for the transactional outbox tests (tests/e2e/test_django_outbox*.py), written
to a directory: the app ``shop`` (a model and a task that appends its argument to a file), Celery's
documented layout (``mysite/celery.py``), and ``scenario.py``, which runs the sends a test names inside
and outside transactions and prints what it saw as JSON.

The database comes from ``$OUTBOX_DATABASES`` (JSON, Django's ``DATABASES``), so one project serves
SQLite and PostgreSQL. Everything that touches Django runs in subprocesses: the test process never
configures Django (other tests need it unconfigured)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

from cfq_shim.transport.sqlite import SQLiteTransport

DEADLINE_SECONDS = 90.0  # a safety net: every wait ends as soon as its condition holds
QUEUE = "shop"

FILES = {
    "mysite/__init__.py": """
        from .celery import app as celery_app

        __all__ = ("celery_app",)
    """,
    "mysite/settings.py": """
        import json
        import os

        SECRET_KEY = "test-only"
        INSTALLED_APPS = json.loads(os.environ.get("OUTBOX_INSTALLED_APPS", '["cfq_shim.django.outbox", "shop"]'))
        DATABASES = json.loads(os.environ["OUTBOX_DATABASES"])
        DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        USE_TZ = True
        CELERY_BROKER_URL = os.environ["OUTBOX_BROKER"]
        CELERY_TASK_DEFAULT_QUEUE = "shop"
        CELERY_CFQ_TRANSACTIONAL_OUTBOX = os.environ.get("OUTBOX_ON", "1") == "1"
        CELERY_CFQ_OUTBOX_FORWARDER = os.environ.get("OUTBOX_FORWARDER", "external")
        DATABASE_ROUTERS = json.loads(os.environ.get("OUTBOX_ROUTERS", "[]"))
    """,
    "mysite/routers.py": """
        class OutboxToOther:
            # Sends the outbox table (only) to the database "other".
            def db_for_write(self, model, **hints):
                return "other" if model._meta.app_label == "cfq_shim_outbox" else None

            db_for_read = db_for_write
    """,
    "mysite/celery.py": """
        import os

        from cfq_shim import Celery

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

        app = Celery("mysite")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.autodiscover_tasks()
    """,
    "shop/__init__.py": "",
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": """
        from django.db import migrations, models


        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name="Order",
                    fields=[
                        ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False)),
                        ("title", models.CharField(max_length=100)),
                    ],
                ),
            ]
    """,
    "shop/models.py": """
        from django.db import models


        class Order(models.Model):
            title = models.CharField(max_length=100)
    """,
    "shop/tasks.py": """
        import os

        from cfq_shim import shared_task


        @shared_task(ignore_result=True)
        def record(label):
            fd = os.open(os.environ["OUTBOX_RAN"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{label}\\n".encode())
            finally:
                os.close(fd)
    """,
    "scenario.py": """
        import json
        import os
        import sys
        import threading

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        import django

        django.setup()
        from django.db import connections, transaction

        from mysite.celery import app
        from shop.models import Order
        from shop.tasks import record

        seen = {}


        def table_rows():
            from cfq_shim.django.outbox.models import OutboxMessage

            return OutboxMessage.objects.count()


        def from_another_connection(read):
            # A second thread has its own database connection: it sees only what was committed.
            box = []
            thread = threading.Thread(target=lambda: (box.append(read()), connections.close_all()))
            thread.start()
            thread.join()
            return box[0]


        def forwarder_pushes_now():
            from cfq_shim.django.outbox.enqueue import make_forwarder

            forwarder = make_forwarder(app)
            return from_another_connection(lambda: forwarder.forward_once(linger=False))


        for step in sys.argv[1:]:
            if step == "commit":
                with transaction.atomic():
                    Order.objects.create(title="committed")
                    result = record.delay_on_commit("committed")
                    seen["task_id"] = result.id
                    seen["rows_inside"] = table_rows()
                    seen["rows_seen_by_another_connection_inside"] = from_another_connection(table_rows)
                    seen["forwarder_pushed_inside"] = forwarder_pushes_now()
                seen["rows_after_commit"] = table_rows()
            elif step == "rollback":
                try:
                    with transaction.atomic():
                        Order.objects.create(title="rolled back")
                        record.delay_on_commit("rolled-back")
                        raise RuntimeError("the view failed")
                except RuntimeError:
                    pass
                seen["rows_after_rollback"] = table_rows()
            elif step == "savepoint":
                with transaction.atomic():
                    record.apply_async_on_commit(("outer-kept",))
                    try:
                        with transaction.atomic():
                            record.delay_on_commit("inner-rolled-back")
                            raise RuntimeError("inner block failed")
                    except RuntimeError:
                        pass
                seen["rows_after_savepoint"] = table_rows()
            elif step == "autocommit":
                record.delay_on_commit("autocommit")
                seen["rows_after_autocommit"] = from_another_connection(table_rows)
            elif step == "oversized":
                from cfq_shim.exceptions import EncodeError

                with transaction.atomic():
                    Order.objects.create(title="big")
                    try:
                        record.delay_on_commit("x" * 200_000)
                    except EncodeError as exc:
                        seen["oversized_error"] = str(exc)
                    seen["rows_in_tx_after_oversized"] = table_rows()
                seen["orders_after_oversized"] = Order.objects.filter(title="big").count()
            elif step.startswith("many:"):
                count = int(step.split(":")[1])
                with transaction.atomic():
                    for n in range(count):
                        record.apply_async_on_commit((f"many-{n}",), task_id=f"many-{n}")
                seen["rows_after_many"] = table_rows()
            elif step.startswith("writer:"):
                # Transactions of SIZE tasks and one Order each, resuming after the last committed one
                # (the process may have been killed mid-transaction: that one left nothing).
                batches, size = (int(part) for part in step.split(":")[1:])
                done = {int(title.split("-")[1]) for title in Order.objects.values_list("title", flat=True)
                        if title.startswith("batch-")}
                for batch in range(max(done, default=-1) + 1, batches):
                    with transaction.atomic():
                        Order.objects.create(title=f"batch-{batch}")
                        for n in range(size):
                            record.apply_async_on_commit((f"b{batch}-{n}",), task_id=f"b{batch}-{n}")
                seen["batches"] = batches
            elif step == "wait-empty":
                import time

                deadline = time.monotonic() + 60
                while table_rows() and time.monotonic() < deadline:
                    time.sleep(0.05)
                seen["rows_after_wait"] = table_rows()
            elif step == "store":
                # The claim rules of the table, checked in order; each check records what it saw.
                import time

                from cfq_shim.django.outbox.models import OutboxMessage
                from cfq_shim.django.outbox.store import DatabaseOutbox

                store = DatabaseOutbox("default")
                OutboxMessage.objects.all().delete()
                store.add("d://", [("a", f"a{n}", 0, 1000) for n in range(5)])
                store.add("d://", [("b", f"b{n}", 0, 1000) for n in range(3)])
                store.add("other://", [("a", "elsewhere", 0, 10)])

                def bodies(claim):
                    return None if claim is None else [claim.queue, [m.body for m in claim.messages]]

                limits = dict(max_messages=100, max_bytes=2500)
                first = store.claim("d://", "1:x", **limits)
                seen["oldest_queue_first_within_bytes"] = bodies(first)
                second = store.claim("d://", "2:y", **limits)
                seen["claimed_rows_skipped"] = bodies(second)
                store.release([m.seq for m in second.messages], destination="d://", backoff_ms=60_000, error="boom")
                seen["backing_off_queue_waits_whole"] = bodies(store.claim("d://", "3:z", **limits))
                seen["other_queue_meanwhile"] = bodies(store.claim("d://", "3:z", **limits))
                stats = store.stats("d://")
                seen["stats"] = [stats.depth, stats.by_queue, stats.last_error]
                store.delete([m.seq for m in first.messages], destination="d://")
                seen["depth_after_delete"] = store.depth("d://")
                # A claim of a dead process of this machine is taken over at once; a live one is not.
                OutboxMessage.objects.all().delete()
                store.add("d://", [("c", "c0", 0, 10)])
                live = store.claim("d://", f"{os.getpid()}:live", **limits)
                store._last_dead_check = 0
                seen["live_claim_kept"] = bodies(store.claim("d://", "other:owner", **limits))
                OutboxMessage.objects.update(claimed_by=OutboxMessage.objects.get().claimed_by.replace(
                    f":{os.getpid()}:", ":999999999:"))
                store._last_dead_check = 0
                seen["dead_claim_taken_over"] = bodies(store.claim("d://", "4:w", **limits))
                # Another machine's claim waits for its lease; an expired one is taken over.
                OutboxMessage.objects.update(claimed_by="elsewhere:1:t:1", claim_expires_ms=int(time.time() * 1000) + 60_000)
                store._last_dead_check = 0
                seen["remote_claim_kept"] = bodies(store.claim("d://", "5:v", **limits))
                OutboxMessage.objects.update(claim_expires_ms=1)
                seen["expired_claim_taken_over"] = bodies(store.claim("d://", "5:v", **limits))
                # Linger: a young, small batch waits; a full one goes.
                OutboxMessage.objects.all().delete()
                store.add("d://", [("e", "e0", 0, 10)])
                seen["young_small_batch_lingers"] = bodies(store.claim("d://", "6:u", min_age_ms=60_000, **limits))
                seen["full_batch_goes"] = bodies(store.claim("d://", "6:u", min_age_ms=60_000, max_messages=1,
                                                             max_bytes=2500))
            elif step == "no-limit-for-update":
                # A database with SKIP LOCKED but no LIMIT with FOR UPDATE (Django's Oracle backend), emulated.
                from cfq_shim.django.outbox.store import DatabaseOutbox

                connections["default"].features.supports_select_for_update_with_limit = False
                store = DatabaseOutbox("default")
                store.add("d://", [("q", "q0", 0, 10), ("q", "q1", 0, 10)])
                try:
                    claim = store.claim("d://", "7:t", max_messages=100, max_bytes=2500)
                    seen["claimed"] = [m.body for m in claim.messages]
                except Exception as exc:
                    seen["claimed"] = f"{type(exc).__name__}: {exc}"
            elif step == "other-database":
                with transaction.atomic(using="other"):
                    result = record.apply_async_on_commit(("other-db",), using="other")
                from cfq_shim.django.outbox.models import OutboxMessage

                seen["rows"] = [OutboxMessage.objects.using(alias).count() for alias in ("default", "other")]
            elif step == "routed":
                # A router puts the outbox in "other"; the caller's transaction is on "default".
                from cfq_shim.django.outbox.models import OutboxMessage

                try:
                    with transaction.atomic():
                        Order.objects.create(title="routed")
                        record.delay_on_commit("routed-rolled-back")
                        raise RuntimeError("the view failed")
                except Exception as exc:
                    seen["error"] = f"{type(exc).__name__}: {exc}"
                seen["rows"] = [OutboxMessage.objects.using(alias).count() for alias in ("default", "other")]
                with transaction.atomic(using="other"):
                    record.apply_async_on_commit(("routed-other",), using="other")
                seen["rows_after_using_other"] = OutboxMessage.objects.using("other").count()
            elif step == "misconfigured":
                try:
                    record.delay_on_commit("never")
                except Exception as exc:
                    seen["error"] = f"{type(exc).__name__}: {exc}"
            else:
                raise SystemExit(f"unknown step {step}")
        print(json.dumps(seen))
    """,
}


def write_project(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


class Project:
    """The project in ``root`` with its environment: database, broker file, the file tasks append to."""

    def __init__(self, root: Path, databases: dict[str, Any], **env: str) -> None:
        self.root = write_project(root)
        self.ran = root / "ran.txt"
        self.queues = root / "queues.sqlite3"
        self.env = {
            **os.environ,
            "OUTBOX_DATABASES": json.dumps(databases),
            "OUTBOX_BROKER": f"sqlite:///{self.queues}",
            "OUTBOX_RAN": str(self.ran),
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
            **env,
        }

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        done = subprocess.run(args, cwd=self.root, env={**self.env, **env}, capture_output=True, text=True,
                              timeout=DEADLINE_SECONDS)
        if check and done.returncode != 0:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def migrate(self) -> None:
        self.run(sys.executable, "-m", "django", "migrate", "-v", "0")

    def scenario(self, *steps: str, **env: str) -> dict[str, Any]:
        done = self.run(sys.executable, "scenario.py", *steps, **env)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def cfq(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "cfq_shim", "-A", "mysite", *args, check=check, **env)

    def popen(self, *args: str, log: Path, **env: str) -> subprocess.Popen:
        with open(log, "w") as out:
            return subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", "mysite", *args], cwd=self.root,
                                    env={**self.env, **env}, stdout=out, stderr=subprocess.STDOUT)

    def queued(self) -> int:
        """Messages waiting in the broker's queue (not yet taken by a worker)."""
        if not self.queues.exists():
            return 0
        transport = SQLiteTransport(str(self.queues))
        try:
            stats = transport.stats(QUEUE)
        except Exception:  # noqa: BLE001 - the queue does not exist yet
            return 0
        finally:
            transport.close()
        return stats.ready + stats.delayed + stats.in_flight

    def committed_batches(self) -> set[int]:
        """The writer's transactions that committed, from the project's own table (``writer:``)."""
        done = self.run(sys.executable, "-c", (
            "import django, json; django.setup(); from shop.models import Order; "
            "print(json.dumps([t for t in Order.objects.values_list('title', flat=True)]))"))
        return {int(title.split("-")[1]) for title in json.loads(done.stdout) if title.startswith("batch-")}

    def ran_labels(self) -> list[str]:
        return self.ran.read_text().split() if self.ran.exists() else []

    def outbox_rows(self) -> int:
        """Rows in the transactional outbox table (read with the database's own client library)."""
        return self.count_rows("cfq_shim_outbox")

    def count_rows(self, table: str) -> int:
        database = json.loads(self.env["OUTBOX_DATABASES"])["default"]
        if database["ENGINE"].endswith("sqlite3"):
            import sqlite3

            with contextlib.closing(sqlite3.connect(database["NAME"], timeout=30)) as conn:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        import psycopg

        with psycopg.connect(host=database["HOST"], port=database["PORT"], user=database["USER"],
                             dbname=database["NAME"]) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def run_worker_until(self, done: Callable[[], bool], log: Path, loglevel: str = "warning") -> None:
        """A real worker (-P solo) runs until ``done()`` holds (or the deadline), then stops warm."""
        worker = self.popen("worker", "-P", "solo", "-l", loglevel, "-Q", QUEUE, log=log)
        try:
            wait_for(done, what="the worker to run the tasks", log=log)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def wait_for(condition: Callable[[], bool], *, what: str, log: Path | None = None,
             timeout_seconds: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)
