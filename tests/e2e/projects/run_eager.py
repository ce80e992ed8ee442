"""Runs a project's orders in eager mode, as the project's own test suite would (``task_always_eager``).

Usage: python run_eager.py APP ORDERS
  APP     the app, 'module:attribute'
  ORDERS  a function that sends the calls and returns their keys, 'module:function'

It imports neither Celery nor cfq_shim itself: the same script runs the original project and the
migrated copy, whichever the project imports. The project records its side effects (``E2E_EVENTS_FILE``).
"""
import importlib
import os
import sys


def load(spec: str):
    module, attribute = spec.split(":")
    return getattr(importlib.import_module(module), attribute)


def main(app_spec: str, orders_spec: str) -> int:
    app = load(app_spec)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    if "DJANGO_SETTINGS_MODULE" in os.environ:
        import django

        django.setup()
    load(orders_spec)()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
