"""``beat_schedule`` read as Celery reads it, checked at start-up.

An entry is ``{"task": name, "schedule": crontab | schedule | seconds | timedelta, "args": (...),
"kwargs": {...}, "options": {...}, "relative": bool}`` under its name; ``app.add_periodic_task`` adds
entries of the same shape (also from ``on_after_configure``/``on_after_finalize`` handlers, which run
when the app is finalized, before beat reads the schedule).

Everything wrong with an entry is a :class:`ScheduleError` naming the entry, raised before anything
is sent: a missing or unregistered task, a schedule that is not one, a ``solar`` schedule (not
supported), keys Celery does not know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Collection, Mapping

from .schedules import _BaseSchedule, maybe_schedule, solar

__all__ = ["Entry", "ScheduleError", "read_entries"]

logger = logging.getLogger("cfq_shim.beat")

_ENTRY_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options", "relative", "name"})
#: Options that mean nothing on Cloudflare Queues: dropped, with one warning per entry.
_IGNORED_OPTIONS = frozenset({"priority"})


class ScheduleError(ValueError):
    """A ``beat_schedule`` entry that cannot run; the message names the entry and the cause."""


@dataclass(frozen=True)
class Entry:
    """One periodic task, ready to send."""

    name: str
    task: str
    schedule: _BaseSchedule
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    #: Passed to ``apply_async`` as Celery passes them: queue, expires, countdown, headers, ...
    options: dict = field(default_factory=dict)
    #: The rest serves schedules kept in a database (django_celery_beat): no run due before ``start_time``
    #: or at/after ``expires_at``; a ``one_off`` entry runs once; ``first_last_run`` replaces "now" as the
    #: last run of an entry the schedule file does not know yet.
    start_time: datetime | None = None
    expires_at: datetime | None = None
    one_off: bool = False
    first_last_run: datetime | None = None


def read_entries(beat_schedule: Mapping[str, Any] | None, *, registered: Collection[str], tz: tzinfo,
                 app: Any = None, allow_solar: bool = False) -> list[Entry]:
    """The app's ``beat_schedule`` as checked :class:`Entry` objects, in their written order.
    ``allow_solar``: keep solar entries (the Cron Triggers export refuses them itself, with its reason)."""
    entries = []
    for name, spec in (beat_schedule or {}).items():
        entries.append(_read_entry(str(name), spec, registered=registered, tz=tz, app=app, allow_solar=allow_solar))
    return entries


def _read_entry(name: str, spec: Any, *, registered: Collection[str], tz: tzinfo, app: Any, allow_solar: bool) -> Entry:
    def fail(reason: str) -> ScheduleError:
        return ScheduleError(f"beat_schedule entry {name!r}: {reason}")

    if not isinstance(spec, Mapping):
        raise fail(f"expected a dict with 'task' and 'schedule', got {type(spec).__name__}")
    unknown = sorted(set(spec) - _ENTRY_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(_ENTRY_KEYS))})")
    task = spec.get("task")
    if not isinstance(task, str) or not task:
        raise fail("'task' must be a task name")
    if task not in registered:
        raise fail(f"task {task!r} is not registered (is its module imported by the app: include/imports/autodiscover?)")
    raw_schedule = spec.get("schedule")
    if raw_schedule is None:
        raise fail("'schedule' is missing")
    try:
        schedule = maybe_schedule(raw_schedule, bool(spec.get("relative", False)), app=app)
    except (TypeError, ValueError) as exc:
        raise fail(f"bad schedule: {exc}") from None
    if isinstance(schedule, solar) and not allow_solar:
        raise fail("solar schedules are not supported by cfq-shim beat; use a crontab at the local time")
    if not isinstance(schedule, _BaseSchedule):
        raise fail(f"'schedule' must be a crontab, a schedule, seconds or a timedelta (got {raw_schedule!r}; "
                   "a celery.schedules object? import crontab from cfq_shim.schedules)")
    schedule.tz = tz
    if getattr(schedule, "run_every", None) is not None and schedule.run_every <= timedelta(0):  # type: ignore[attr-defined]
        raise fail(f"the interval must be positive (got {raw_schedule!r})")
    args = spec.get("args") or ()
    if not isinstance(args, (list, tuple)):
        raise fail(f"'args' must be a list or tuple (got {type(args).__name__})")
    kwargs = spec.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise fail(f"'kwargs' must be a dict (got {type(kwargs).__name__})")
    options = dict(spec.get("options") or {})
    ignored = sorted(set(options) & _IGNORED_OPTIONS)
    if ignored:
        logger.warning("beat_schedule entry %r: option(s) %s ignored (Cloudflare Queues has no priorities)",
                       name, ", ".join(ignored))
        for option in ignored:
            options.pop(option)
    return Entry(name=name, task=task, schedule=schedule, args=tuple(args), kwargs=dict(kwargs), options=options)
