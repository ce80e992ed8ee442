"""Celery's ``celery.schedules`` import path: ``from cfq_shim.schedules import crontab``.

The schedules live in :mod:`cfq_shim.beat.schedules`; this module keeps the path the codemod maps
``celery.schedules`` to.
"""

from .beat.schedules import crontab, crontab_parser, maybe_schedule, schedstate, schedule, solar

# crontab_parser is importable too, but left out of __all__: the codemod maps the names Celery and the shim
# both export, and it does not migrate crontab_parser (rarely imported by application code).
__all__ = ["schedule", "crontab", "solar", "maybe_schedule", "schedstate"]
