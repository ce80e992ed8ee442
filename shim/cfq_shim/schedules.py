"""Celery's ``celery.schedules`` import path: ``from cfq_shim.schedules import crontab``.

The schedules live in :mod:`cfq_shim.beat.schedules`; this module keeps the path the codemod maps
``celery.schedules`` to.
"""

from .beat.schedules import crontab, crontab_parser, maybe_schedule, schedstate, schedule, solar

__all__ = ["schedule", "crontab", "crontab_parser", "solar", "maybe_schedule", "schedstate"]
