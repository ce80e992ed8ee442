"""What the Django transactional outbox costs a request, against the ways it replaces, in one run.

    python bench/django_outbox.py [--requests 3000] [--postgres-url postgresql://USER@127.0.0.1:PORT/DB]

A "request" is one ``transaction.atomic()`` block that creates a row of the project's own model and
calls ``task.delay_on_commit(n)``: the pattern the transactional outbox is for. Each mode runs in a fresh
process on the same Django project (its database: a SQLite file, or the PostgreSQL given), the broker
being the embedded store (``sqlite://``):

- ``no task``: the transaction alone (the floor);
- ``transactional outbox``: ``cfq_transactional_outbox`` on: one more INSERT in the same transaction;
- ``on_commit + file outbox``: Celery's ``delay_on_commit`` (``transaction.on_commit``) with the shim's
  ``?producer=outbox`` (a commit to the local outbox file after the transaction's own);
- ``on_commit + durable``: Celery's ``delay_on_commit`` with the default producer (an insert into the
  embedded queue after the commit; on Cloudflare this is a round trip of 20-100 ms instead).

Then ``cfq-shim forward --once`` drains the transactional outbox's table into the queue: messages per
second. Printed, with each mode's ratio to the transactional outbox, and written to
bench/results/django_outbox.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

RESULTS = Path(__file__).parent / "results" / "django_outbox.json"

PROJECT = {
    "benchsite/__init__.py": "",
    "benchsite/settings.py": """
        import json, os

        SECRET_KEY = "bench"
        INSTALLED_APPS = ["cfq_shim.django.outbox", "shop"]
        DATABASES = json.loads(os.environ["BENCH_DATABASES"])
        DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        USE_TZ = True
        CELERY_BROKER_URL = os.environ["BENCH_BROKER"]
        CELERY_CFQ_TRANSACTIONAL_OUTBOX = os.environ.get("BENCH_MODE") == "transactional"
        CELERY_CFQ_OUTBOX_FORWARDER = "external"
        CELERY_CFQ_OUTBOX_PATH = os.environ["BENCH_OUTBOX"]
        if os.environ.get("BENCH_MODE") == "file-outbox":
            CELERY_CFQ_PRODUCER = "outbox"
    """,
    "benchsite/celery.py": """
        import os
        from cfq_shim import Celery

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
        app = Celery("benchsite")
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
            operations = [migrations.CreateModel(name="Order", fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False)),
                ("n", models.IntegerField()),
            ])]
    """,
    "shop/models.py": """
        from django.db import models

        class Order(models.Model):
            n = models.IntegerField()
    """,
    "shop/tasks.py": """
        from cfq_shim import shared_task

        @shared_task(ignore_result=True)
        def fulfil(n):
            return n
    """,
    "requests.py": """
        import json, os, sys, time
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
        import django
        django.setup()
        from django.db import transaction
        from benchsite.celery import app
        from shop.models import Order
        from shop.tasks import fulfil

        mode, count = os.environ["BENCH_MODE"], int(sys.argv[1])

        def request(n):
            with transaction.atomic():
                Order.objects.create(n=n)
                if mode != "no-task":
                    fulfil.delay_on_commit(n)

        for n in range(50):  # connect, resolve the queue, warm the caches outside the timing
            request(-1)
        started = time.perf_counter()
        for n in range(count):
            request(n)
        print(json.dumps({"seconds": time.perf_counter() - started}))
    """,
}

MODES = {
    "no-task": "no task (the transaction alone)",
    "transactional": "transactional outbox",
    "file-outbox": "on_commit + file outbox",
    "durable": "on_commit + durable (embedded queue)",
}


def databases(directory: Path, postgres_url: str | None, name: str) -> dict:
    if postgres_url is None:
        return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory / f"{name}.sqlite3")}}
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(postgres_url)
    return {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": parts.username,
                        "PASSWORD": parts.password or "", "HOST": parts.hostname, "PORT": str(parts.port)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--postgres-url", default=None, help="run the project on this PostgreSQL server")
    options = parser.parse_args()
    figures: dict = {"requests": options.requests, "database": "postgresql" if options.postgres_url else "sqlite",
                     "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="cfq-bench-django-") as tmp:
        root = Path(tmp)
        for name, text in PROJECT.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(textwrap.dedent(text))
        rates = {}
        for mode in MODES:
            env = {**os.environ, "BENCH_MODE": mode, "PYTHONPATH": str(root),
                   "DJANGO_SETTINGS_MODULE": "benchsite.settings",
                   "BENCH_DATABASES": json.dumps(databases(root, options.postgres_url, f"bench_{mode.replace('-', '_')}")),
                   "BENCH_BROKER": f"sqlite:///{root / (mode + '-queues.sqlite3')}",
                   "BENCH_OUTBOX": str(root / f"{mode}-outbox.sqlite3")}
            subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], cwd=root, env=env, check=True)
            done = subprocess.run([sys.executable, "requests.py", str(options.requests)], cwd=root, env=env,
                                  check=True, capture_output=True, text=True)
            rates[mode] = options.requests / json.loads(done.stdout.splitlines()[-1])["seconds"]
            if mode == "transactional":
                started = time.perf_counter()
                forwarded = subprocess.run([sys.executable, "-m", "cfq_shim", "-A", "benchsite", "forward", "--once",
                                            "-l", "warning"], cwd=root, env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                assert forwarded.returncode == 0, forwarded.stderr
                figures["forward_once_seconds"] = seconds  # process start and Django set-up included
                figures["forward_once_line"] = forwarded.stderr.strip().splitlines()[-1]
                figures["forward_messages_per_second"] = (options.requests + 50) / seconds
    figures["requests_per_second"] = rates
    print(f"{figures['requests']} requests (transaction + model row + delay_on_commit) on {figures['database']}, "
          "embedded queue:")
    base = rates["transactional"]
    for mode, label in MODES.items():
        print(f"  {label:<40} {rates[mode]:>9,.0f} requests/s   {rates[mode] / base:>5.2f} x the transactional outbox")
    print(f"  cfq-shim forward --once: {figures['forward_messages_per_second']:,.0f} messages/s "
          f"(process start included; {figures['forward_once_line']})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
