"""Runs a project's ``place_orders()`` under real Celery: a worker thread on the in-memory broker.

Usage: python run_under_celery.py PROJECT_DIR PACKAGE DEADLINE_SECONDS

The project records its side effects itself (``SHOP_EVENTS_FILE``); this script only waits until every key
``place_orders()`` returned has a terminal event ("result" or "failed"), then stops the worker. It runs in
its own process so the project's modules never meet the migrated copy's in one interpreter.
"""
import importlib
import json
import os
import sys
import time
from pathlib import Path

TERMINAL_EVENTS = ("result", "failed")


def terminal_keys(events_file: Path) -> set:
    if not events_file.exists():
        return set()
    lines = events_file.read_text().splitlines()
    return {json.loads(line)["key"] for line in lines if json.loads(line)["event"] in TERMINAL_EVENTS}


def main(project_dir: str, package: str, deadline_seconds: str) -> int:
    os.environ["CELERY_BROKER_URL"] = "memory://"
    sys.path.insert(0, project_dir)
    from celery.contrib.testing.worker import start_worker

    app = importlib.import_module(f"{package}.celery").app
    orders = importlib.import_module(f"{package}.orders")
    events_file = Path(os.environ["SHOP_EVENTS_FILE"])
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        keys = set(orders.place_orders())
        deadline = time.monotonic() + float(deadline_seconds)
        while not keys <= terminal_keys(events_file):
            if time.monotonic() > deadline:
                print(f"timed out; missing: {sorted(keys - terminal_keys(events_file))}", file=sys.stderr)
                return 1
            time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
