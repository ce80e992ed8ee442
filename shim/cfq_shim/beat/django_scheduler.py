"""``cfq-shim beat -S django``: periodic tasks kept in django_celery_beat's tables, edited in the admin.

Reads ``PeriodicTask`` with its ``IntervalSchedule``, ``CrontabSchedule`` (in the crontab's own
``timezone``) and ``ClockedSchedule`` through Django's ORM, every ``reload_every_seconds`` (5 s, as
django_celery_beat's scheduler), and honours, as django_celery_beat does:

- ``enabled``: only enabled rows run;
- ``start_time``: no run due before it (an entry never run before first runs at its start);
- ``expires``: no run at or after it; ``expire_seconds``/``expires`` also become the message's expiry;
- ``one_off``: runs once, then the row is disabled (and its count reset, as django_celery_beat does);
- ``last_run_at``/``total_run_count``: updated on each run, so the admin shows them.

``SolarSchedule`` rows are refused (no solar schedules in cfq-shim beat). ``beat_schedule`` entries in
the settings run too, and win over a row of the same name (django_celery_beat copies them into its
table at start-up). The lease and the claims work as for the file scheduler, so several ``-S django``
beats send each run once.

The models are looked up through Django's app registry: the shim never imports django_celery_beat
(or Celery, which it imports) itself.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..runtime import Runtime
from .entries import Entry, ScheduleError, read_entries
from .schedules import _BaseSchedule, clocked, crontab, resolve_timezone, schedule

__all__ = ["DjangoSchedule", "DJANGO_SCHEDULER_NAMES", "FILE_SCHEDULER_NAMES", "scheduler_kind"]

logger = logging.getLogger("cfq_shim.beat")

#: ``-S`` values (and ``beat_scheduler`` settings) that mean django_celery_beat's DatabaseScheduler.
DJANGO_SCHEDULER_NAMES = frozenset({
    "django", "django_celery_beat.schedulers:DatabaseScheduler", "django_celery_beat.schedulers.DatabaseScheduler",
})
#: ... and those that mean the default file scheduler.
FILE_SCHEDULER_NAMES = frozenset({
    "", "file", "celery.beat:PersistentScheduler", "celery.beat.PersistentScheduler",
    "cfq_shim.beat:PersistentScheduler",
})
#: Rows django_celery_beat adds for Celery itself: the shim's result backends expire entries on their own.
_CELERY_INTERNAL_TASKS = frozenset({"celery.backend_cleanup"})
#: django_celery_beat's trick for a row with a start_time and no run yet: a last run long ago.
_LONG_AGO = timedelta(days=365 * 30)


def scheduler_kind(name: str | None) -> str:
    """``"file"`` or ``"django"`` for a ``-S``/``beat_scheduler`` value; anything else is a ValueError."""
    name = (name or "").strip()
    if name in FILE_SCHEDULER_NAMES:
        return "file"
    if name in DJANGO_SCHEDULER_NAMES:
        return "django"
    raise ValueError(f"unknown beat scheduler {name!r}: cfq-shim beat has the schedule file (the default) and "
                     "'django' (django_celery_beat.schedulers:DatabaseScheduler)")


def _require_django_celery_beat() -> None:
    if importlib.util.find_spec("django_celery_beat") is None:
        raise ScheduleError("-S django reads django_celery_beat's tables, but the django-celery-beat package is not "
                            "installed (pip install django-celery-beat, and add 'django_celery_beat' to INSTALLED_APPS)")


class DjangoSchedule:
    """The enabled ``PeriodicTask`` rows (plus ``beat_schedule``) as beat entries, and their run records."""

    def __init__(self, app: Runtime) -> None:
        _require_django_celery_beat()
        self.app = app
        self.registered = set(app.tasks)  # finalizes the app: the Django fix-up has set Django up
        try:
            from django.apps import apps
            from django.conf import settings
        except ImportError:  # pragma: no cover - django_celery_beat requires Django
            raise ScheduleError("-S django needs Django") from None
        if not apps.ready:
            raise ScheduleError("-S django: Django is not set up (set DJANGO_SETTINGS_MODULE, as for the worker)")
        if not apps.is_installed("django_celery_beat"):
            raise ScheduleError("-S django: 'django_celery_beat' is not in INSTALLED_APPS")
        self._models = {name: apps.get_model("django_celery_beat", name) for name in ("PeriodicTask",)}
        self._tz_aware = bool(getattr(settings, "DJANGO_CELERY_BEAT_TZ_AWARE", True))
        conf = app.conf
        self._app_tz = resolve_timezone(conf.get("timezone"), bool(conf.get("enable_utc", True)))
        self._database_names: set[str] = set()

    def entries(self, *, strict: bool = False) -> list[Entry]:
        """Every runnable entry. ``strict`` (at start-up): a bad enabled row is a ScheduleError naming it;
        otherwise it is logged and left out (a row edited in the admin must not stop a running beat)."""
        from_settings = read_entries(self.app.conf.get("beat_schedule"), registered=self.registered,
                                     tz=self._app_tz, app=self.app)
        names = {entry.name for entry in from_settings}
        from_database = []
        rows = (self._models["PeriodicTask"].objects.filter(enabled=True)
                .select_related("interval", "crontab", "solar", "clocked"))
        for row in rows:
            if row.name in names or row.task in _CELERY_INTERNAL_TASKS:
                continue
            try:
                from_database.append(self._entry(row))
            except ScheduleError as exc:
                if strict:
                    raise
                logger.error("beat: %s; left out until it is fixed", exc)
        self._database_names = {entry.name for entry in from_database}
        return [*from_settings, *from_database]

    def _entry(self, row: Any) -> Entry:
        def fail(reason: str) -> ScheduleError:
            return ScheduleError(f"periodic task {row.name!r} (django_celery_beat): {reason}")

        if row.task not in self.registered:
            raise fail(f"task {row.task!r} is not registered")
        try:
            args = json.loads(row.args or "[]")
            kwargs = json.loads(row.kwargs or "{}")
            headers = json.loads(row.headers or "{}")
        except ValueError as exc:
            raise fail(f"args, kwargs or headers are not JSON ({exc})") from None
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(headers, dict):
            raise fail("args must be a JSON list, kwargs and headers JSON objects")
        entry_schedule = self._schedule(row, fail)
        options: dict[str, Any] = {}
        if row.queue:
            options["queue"] = row.queue
        if row.priority is not None:
            logger.warning("beat: periodic task %r: priority ignored (Cloudflare Queues has no priorities)", row.name)
        if row.expire_seconds:
            options["expires"] = row.expire_seconds
        elif row.expires:
            options["expires"] = row.expires
        options["headers"] = {**headers, "periodic_task_name": row.name}
        first_last_run = row.last_run_at or row.date_changed or datetime.now(timezone.utc)
        if row.start_time is not None and row.last_run_at is None:
            first_last_run = first_last_run - _LONG_AGO
        if isinstance(entry_schedule, clocked):
            first_last_run = min(first_last_run, entry_schedule.clocked_time - timedelta(seconds=1))
        return Entry(
            name=row.name, task=row.task, schedule=entry_schedule, args=tuple(args), kwargs=kwargs,
            options=options, start_time=row.start_time, expires_at=row.expires, one_off=bool(row.one_off),
            first_last_run=first_last_run,
        )

    def _schedule(self, row: Any, fail: Any) -> _BaseSchedule:
        if row.interval is not None:
            try:
                return schedule(timedelta(**{row.interval.period: row.interval.every}))
            except (TypeError, ValueError) as exc:
                raise fail(f"bad interval: {exc}") from None
        if row.crontab is not None:
            cron = row.crontab
            try:
                entry_schedule = crontab(minute=cron.minute, hour=cron.hour, day_of_week=cron.day_of_week,
                                         day_of_month=cron.day_of_month, month_of_year=cron.month_of_year)
            except (TypeError, ValueError) as exc:
                raise fail(f"bad crontab: {exc}") from None
            entry_schedule.tz = self._crontab_zone(cron.timezone) if self._tz_aware else self._app_tz
            return entry_schedule
        if row.clocked is not None:
            return clocked(row.clocked.clocked_time)
        if row.solar is not None:
            raise fail("solar schedules are not supported by cfq-shim beat; use a crontab at the local time")
        raise fail("no schedule (set an interval, crontab or clocked schedule)")

    def _crontab_zone(self, zone: Any) -> tzinfo:
        if isinstance(zone, tzinfo):
            return zone
        return ZoneInfo(str(zone)) if zone else self._app_tz

    def record_run(self, entry: Entry, due: datetime) -> None:
        """Write the run to its row, as django_celery_beat does (last_run_at, total_run_count, one_off)."""
        if entry.name not in self._database_names:
            return
        from django.db.models import F

        rows = self._models["PeriodicTask"].objects.filter(name=entry.name)
        now = datetime.now(timezone.utc)
        if entry.one_off:
            rows.update(last_run_at=now, enabled=False, total_run_count=0)
        else:
            rows.update(last_run_at=now, total_run_count=F("total_run_count") + 1)
