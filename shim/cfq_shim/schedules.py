"""Periodic-task schedules: ``crontab`` and ``schedule``.

The objects can be built and put in ``beat_schedule`` (so settings modules import and load), and they
describe themselves. Running them needs a scheduler (``celery beat``), which cfq_shim does not have yet:
asking a schedule when it is due raises :class:`~cfq_shim.exceptions.FeatureNotAvailable`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .exceptions import FeatureNotAvailable

__all__ = ["schedule", "crontab", "solar", "maybe_schedule"]

_BEAT_HINT = (
    "Periodic tasks (beat) are not built yet. Run the task from a system scheduler (cron, systemd timers, "
    "or a Cloudflare Cron Trigger that sends it)."
)


class schedule:  # noqa: N801 - Celery's name
    """Every ``run_every`` (seconds or a timedelta)."""

    def __init__(self, run_every: float | timedelta | None = None, relative: bool = False, nowfun: Any = None, app: Any = None) -> None:
        if isinstance(run_every, (int, float)):
            run_every = timedelta(seconds=run_every)
        self.run_every = run_every
        self.relative = relative

    def is_due(self, last_run_at: Any) -> Any:
        raise FeatureNotAvailable("schedule.is_due() (periodic tasks)", _BEAT_HINT)

    def remaining_estimate(self, last_run_at: Any) -> Any:
        raise FeatureNotAvailable("schedule.remaining_estimate() (periodic tasks)", _BEAT_HINT)

    @property
    def seconds(self) -> float:
        return self.run_every.total_seconds() if self.run_every else 0.0

    def __repr__(self) -> str:
        return f"<freq: {self.run_every}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, schedule) and type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash(repr(self))


_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_MONTHS = {name: number for number, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


def _number(text: str, names: dict[str, int], kind: str) -> int:
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    for name, number in names.items():
        if text.startswith(name):
            return number
    raise ValueError(f"Invalid {kind} literal {text!r}.")


def _expand(spec: Any, low: int, high: int, names: dict[str, int], kind: str) -> set[int]:
    """Celery's crontab field syntax: ``*``, ``*/n``, ``a-b``, ``a-b/n``, ``a,b``, names, ints, iterables."""
    if isinstance(spec, int):
        values = {spec}
    elif isinstance(spec, str):
        values = set()
        for part in spec.split(","):
            part = part.strip()
            step = 1
            if "/" in part:
                part, step_text = part.split("/", 1)
                if not step_text.strip().isdigit() or int(step_text) == 0:
                    raise ValueError(f"Invalid crontab pattern {spec!r}: bad step {step_text!r}.")
                step = int(step_text)
            if part in ("*", ""):
                first, last = low, high
            elif "-" in part:
                start_text, end_text = part.split("-", 1)
                first, last = _number(start_text, names, kind), _number(end_text, names, kind)
            else:
                if step != 1:
                    raise ValueError(f"Invalid crontab pattern {spec!r}: a step needs '*' or a range.")
                first = last = _number(part, names, kind)
            values.update(range(first, last + 1, step))
    else:
        values = {int(value) for value in spec}
    for value in values:
        if not low <= value <= high:
            raise ValueError(
                f"Invalid crontab pattern.  Valid range is {low}-{high}. '{value}' was found."
            )
    return values


class crontab(schedule):  # noqa: N801 - Celery's name
    """A cron-style schedule: ``crontab(minute=0, hour='*/3')``.

    The fields are parsed as Celery parses them (bad patterns raise ValueError when the schedule is built)
    and read back as sets: ``crontab(hour='9-17').hour == {9, ..., 17}``.
    """

    def __init__(
        self,
        minute: Any = "*",
        hour: Any = "*",
        day_of_week: Any = "*",
        day_of_month: Any = "*",
        month_of_year: Any = "*",
        **kwargs: Any,
    ) -> None:
        self._orig_minute = minute
        self._orig_hour = hour
        self._orig_day_of_week = day_of_week
        self._orig_day_of_month = day_of_month
        self._orig_month_of_year = month_of_year
        self.minute = _expand(minute, 0, 59, {}, "minute")
        self.hour = _expand(hour, 0, 23, {}, "hour")
        self.day_of_week = _expand(day_of_week, 0, 6, _WEEKDAYS, "weekday")
        self.day_of_month = _expand(day_of_month, 1, 31, {}, "day of month")
        self.month_of_year = _expand(month_of_year, 1, 12, _MONTHS, "month")
        self.run_every = None
        self.relative = False

    @classmethod
    def from_string(cls, expression: str) -> "crontab":
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"Invalid crontab expression {expression!r}: expected 5 fields")
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return cls(minute, hour, day_of_week, day_of_month, month_of_year)

    def is_due(self, last_run_at: Any) -> Any:
        raise FeatureNotAvailable("crontab.is_due() (periodic tasks)", _BEAT_HINT)

    def remaining_estimate(self, last_run_at: Any) -> Any:
        raise FeatureNotAvailable("crontab.remaining_estimate() (periodic tasks)", _BEAT_HINT)

    def __repr__(self) -> str:
        return (
            f"<crontab: {self._orig_minute} {self._orig_hour} {self._orig_day_of_month} "
            f"{self._orig_month_of_year} {self._orig_day_of_week} (m/h/dM/MY/d)>"
        )


class solar(schedule):  # noqa: N801 - Celery's name
    """A schedule by sun events; kept for imports, never due (no beat yet)."""

    def __init__(self, event: str, lat: float, lon: float, **kwargs: Any) -> None:
        self.event, self.lat, self.lon = event, lat, lon
        self.run_every = None
        self.relative = False

    def is_due(self, last_run_at: Any) -> Any:
        raise FeatureNotAvailable("solar.is_due() (periodic tasks)", _BEAT_HINT)


def maybe_schedule(value: Any, relative: bool = False, app: Any = None) -> Any:
    if isinstance(value, (int, float, timedelta)):
        return schedule(value, relative)
    return value
