"""Runs a project's orders under real Celery 5.7: a worker thread on the in-memory broker.

Usage: python run_under_celery.py APP ORDERS DEADLINE_SECONDS
  APP     the Celery app, 'module:attribute' (e.g. shop.celery:app)
  ORDERS  a function that sends the calls and returns their keys, 'module:function'

The project (and tests/e2e/projects/support) must be on PYTHONPATH. The project records its side effects
itself (``E2E_EVENTS_FILE``); this script only waits until every key has a terminal event ("result" or
"failed", "revoked"), then stops the worker. It runs in its own process so the project's modules never meet the
migrated copy's in one interpreter.
"""
import importlib
import json
import os
import sys
import time
from pathlib import Path

TERMINAL_EVENTS = ("result", "failed", "revoked")


def load(spec: str):
    module, attribute = spec.split(":")
    return getattr(importlib.import_module(module), attribute)


def terminal_keys(events_file: Path) -> set:
    if not events_file.exists():
        return set()
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    return {event["key"] for event in events if event["event"] in TERMINAL_EVENTS}


def main(app_spec: str, orders_spec: str, deadline_seconds: str) -> int:
    from celery.contrib.testing.worker import start_worker

    app = load(app_spec)
    # Whatever broker the project names (a literal amqp:// URL, an environment variable), run in memory.
    app.conf.broker_url = "memory://"
    # Like `celery worker -Q`: the default queue and every queue a route names.
    routes = app.conf.task_routes or {}
    queues = sorted({app.conf.task_default_queue} | {route["queue"] for route in routes.values()})
    events_file = Path(os.environ["E2E_EVENTS_FILE"])
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
                      loglevel="WARNING", queues=queues):
        if "DJANGO_SETTINGS_MODULE" in os.environ:
            # Celery's Django fixup has set Django up as the worker started; the tasks rely on it.
            from django.apps import apps

            assert apps.ready, "Celery's worker did not set Django up"
        keys = set(load(orders_spec)())
        deadline = time.monotonic() + float(deadline_seconds)
        while not keys <= terminal_keys(events_file):
            if time.monotonic() > deadline:
                print(f"timed out; missing: {sorted(keys - terminal_keys(events_file))}", file=sys.stderr)
                return 1
            time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
