"""Periodic schedules as Celery defines them: ``schedule`` (every N seconds), ``crontab`` and ``solar``.

Each schedule answers one question, :meth:`next_run_after` ("the first due time strictly after this
instant", an aware UTC datetime), and Celery's two on top of it: ``remaining_estimate(last_run_at)`` and
``is_due(last_run_at)``, with Celery's return shapes, so code that calls them keeps working.

Crontab fields are parsed as ``celery.schedules.crontab_parser`` parses them (``*/15``, ``1-5``,
``mon-fri``, wrapping ranges such as ``fri-mon``, ``1-31/7``, names, ints, sets) and matched in the
schedule's time zone (Celery's ``timezone`` setting; UTC when ``enable_utc`` and no ``timezone``), with
Celery's rule that ``day_of_month`` *and* ``day_of_week`` must both match.

Daylight-saving transitions (docs/beat.md, "Time zones"):

- a local time that does not exist (the hour skipped in spring) is read as Python (PEP 495, ``fold=0``)
  and Celery read it: shifted forward by the gap, so 02:30 runs at 03:30. It runs once.
- a local time that happens twice (the hour repeated in autumn) runs at its first occurrence only.
"""

from __future__ import annotations

import math
import os
from collections import namedtuple
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "schedule", "crontab", "solar", "clocked", "schedstate", "maybe_schedule", "resolve_timezone",
    "CronField", "crontab_parser", "NEVER",
]

#: Celery's return shape for ``is_due``: ``(is_due, next)`` where ``next`` is seconds until the next check.
schedstate = namedtuple("schedstate", ("is_due", "next"))

UTC = timezone.utc
#: "No further due time" (a clocked schedule after its moment).
NEVER = datetime.max.replace(tzinfo=UTC)

_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
#: Longest month length per month (Celery's CRON_DAYS_IN_MONTH): a crontab no month can satisfy is refused.
_DAYS_IN_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
#: How far ahead a crontab search looks before it gives up (29 February on a Monday recurs within 28 years).
_SEARCH_YEARS = 30


def resolve_timezone(timezone_name: str | tzinfo | None, enable_utc: bool = True) -> tzinfo:
    """The zone schedules are read in, as Celery's ``app.timezone``: ``timezone`` when set, else UTC when
    ``enable_utc``, else the machine's local zone (``$TZ``, then ``/etc/localtime``)."""
    if isinstance(timezone_name, tzinfo):
        return timezone_name
    if timezone_name:
        try:
            return ZoneInfo(str(timezone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"Unknown time zone {timezone_name!r} (the timezone setting)") from None
    if enable_utc:
        return UTC
    return _local_zone()


def _local_zone() -> tzinfo:
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        return ZoneInfo("localtime")  # /etc/localtime, with its DST rules
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.now().astimezone().tzinfo or UTC


def _aware(moment: datetime) -> datetime:
    """Celery's ``maybe_make_aware``: a naive datetime is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class _BaseSchedule:
    """What every schedule shares: the clock (``nowfun``), the zone and Celery's ``is_due`` shape."""

    #: Set by beat from the app's ``timezone``/``enable_utc`` (Celery reads them through ``schedule.app``).
    tz: tzinfo = UTC

    def __init__(self, nowfun: Callable[[], datetime] | None = None, app: Any = None) -> None:
        self.nowfun = nowfun
        self.app = app
        if app is not None:
            conf = getattr(app, "conf", None)
            if conf is not None:
                self.tz = resolve_timezone(conf.get("timezone"), bool(conf.get("enable_utc", True)))

    def now(self) -> datetime:
        return _aware(self.nowfun()) if self.nowfun else datetime.now(UTC)

    def next_run_after(self, moment: datetime) -> datetime:
        """The first due time strictly after ``moment`` (aware; returned in UTC)."""
        raise NotImplementedError

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Time from now until the first due time after ``last_run_at`` (negative when overdue)."""
        return self.next_run_after(_aware(last_run_at)) - self.now()

    def latest_due_at_or_before(self, last_run_at: datetime, moment: datetime) -> datetime | None:
        """The most recent due time in ``(last_run_at, moment]``, or None when none fell due.

        Beat sends a missed entry once, for this due time (not once per missed period)."""
        latest = None
        due = self.next_run_after(last_run_at)
        while due <= moment:
            latest = due
            due = self.next_run_after(due)
        return latest


class schedule(_BaseSchedule):  # noqa: N801 - Celery's name
    """Every ``run_every`` (seconds or a timedelta). ``relative=True`` rounds due times down to the
    interval's resolution (days, hours, minutes or seconds), as Celery does."""

    def __init__(self, run_every: float | timedelta | None = None, relative: bool = False,
                 nowfun: Callable[[], datetime] | None = None, app: Any = None) -> None:
        super().__init__(nowfun=nowfun, app=app)
        if isinstance(run_every, (int, float)):
            run_every = timedelta(seconds=run_every)
        self.run_every = run_every
        self.relative = relative

    @property
    def seconds(self) -> float:
        return self.run_every.total_seconds() if self.run_every else 0.0

    def next_run_after(self, moment: datetime) -> datetime:
        if not self.run_every or self.seconds <= 0:
            raise ValueError(f"{self!r}: an interval schedule needs a positive run_every")
        due = _aware(moment).astimezone(UTC) + self.run_every
        if self.relative:
            due = _round_down(due.astimezone(self.tz), self.run_every).astimezone(UTC)
            if due <= moment:
                due = due + self.run_every
        return due

    def latest_due_at_or_before(self, last_run_at: datetime, moment: datetime) -> datetime | None:
        # Interval schedules: arithmetic instead of a walk (a beat down for a year must not loop).
        first = self.next_run_after(last_run_at)
        if first > moment or self.relative:
            return super().latest_due_at_or_before(last_run_at, moment) if first <= moment else None
        periods = math.floor((moment - first) / self.run_every)  # type: ignore[operator]
        return first + periods * self.run_every  # type: ignore[operator]

    def is_due(self, last_run_at: datetime) -> schedstate:
        remaining = max(self.remaining_estimate(last_run_at).total_seconds(), 0)
        if remaining == 0:
            return schedstate(True, self.seconds)
        return schedstate(False, remaining)

    def __repr__(self) -> str:
        return f"<freq: {self.run_every}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, schedule) and not isinstance(other, crontab) and not isinstance(self, crontab):
            return self.run_every == other.run_every
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.run_every)

    def __reduce__(self) -> Any:
        return type(self), (self.run_every, self.relative, self.nowfun)


def _round_down(moment: datetime, run_every: timedelta) -> datetime:
    """Celery's ``delta_resolution``: drop the parts finer than the interval's unit."""
    seconds = run_every.total_seconds()
    if seconds >= 86400:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if seconds >= 3600:
        return moment.replace(minute=0, second=0, microsecond=0)
    if seconds >= 60:
        return moment.replace(second=0, microsecond=0)
    return moment.replace(microsecond=0)


class crontab_parser:  # noqa: N801 - Celery's name
    """Parse one crontab field (Celery's syntax) into the set of values it matches."""

    def __init__(self, max_: int = 60, min_: int = 0, names: dict[str, int] | None = None) -> None:
        self.max_, self.min_ = max_, min_
        self.names = names

    def parse(self, spec: str) -> set[int]:
        values: set[int] = set()
        for part in spec.split(","):
            if not part:
                raise ValueError(f"Invalid crontab field {spec!r}: an empty part")
            values.update(self._part(part))
        return values

    def _part(self, part: str) -> list[int]:
        body, slash, step_text = part.partition("/")
        if slash:
            if not step_text:
                raise ValueError(f"Invalid crontab field {part!r}: a step needs a number after '/'")
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"Invalid crontab step {step_text!r} in {part!r}")
            step = int(step_text)
            if body == "*":
                return self._all()[::step]
            if "-" in body.lstrip("-"):
                return self._range(body)[::step]
            raise ValueError(f"Invalid crontab field {part!r}: a step needs '*' or a range before '/'")
        if body == "*":
            return self._all()
        return self._range(body)

    def _all(self) -> list[int]:
        return list(range(self.min_, self.max_ + self.min_))

    def _range(self, text: str) -> list[int]:
        start_text, dash, end_text = text.partition("-")
        if not start_text:
            raise ValueError(f"Invalid crontab field {text!r}: negative numbers are not supported")
        first = self._number(start_text)
        if not dash:
            return [first]
        last = self._number(end_text)
        if last < first:  # wraps past the maximum, as Celery's 'fri-mon'
            return list(range(first, self.min_ + self.max_)) + list(range(self.min_, last + 1))
        return list(range(first, last + 1))

    def _number(self, text: str) -> int:
        if text.isdigit():
            value = int(text)
        else:
            key = text[:3].lower()
            value_or_none = (self.names or {}).get(key)
            if value_or_none is None:
                raise ValueError(f"Invalid crontab literal {text!r}")
            value = value_or_none
        highest = self.min_ + self.max_ - 1
        if value > highest:
            raise ValueError(f"Invalid end range: {value} > {highest}.")
        if value < self.min_:
            raise ValueError(f"Invalid beginning range: {value} < {self.min_}.")
        return value


class CronField:
    """One crontab field: the values it matches, parsed once, and the text it was written as."""

    def __init__(self, spec: Any, max_: int, min_: int = 0, names: dict[str, int] | None = None) -> None:
        self.original = spec
        if isinstance(spec, bool):
            raise TypeError(f"Invalid crontab field {spec!r}")
        if isinstance(spec, int):
            values = {spec}
        elif isinstance(spec, str):
            values = crontab_parser(max_, min_, names).parse(spec)
        elif isinstance(spec, Iterable):
            values = {int(value) for value in spec}
        else:
            raise TypeError(f"Argument cronspec needs to be of any of the following types: int, str, or an "
                            f"iterable type. {type(spec)!r} was given.")
        for value in values:
            if not min_ <= value < max_ + min_:
                raise ValueError(f"Invalid crontab pattern. Valid range is {min_}-{max_ - 1 + min_}. "
                                 f"'{value}' was found.")
        self.values: frozenset[int] = frozenset(values)

    def text(self) -> str:
        """The field as written in a cron line (``*``, ``*/15``, ``1,3``)."""
        if isinstance(self.original, str):
            return self.original
        if isinstance(self.original, int):
            return str(self.original)
        return ",".join(str(value) for value in sorted(self.values))


class crontab(_BaseSchedule):  # noqa: N801 - Celery's name
    """A cron-style schedule: ``crontab(minute=0, hour='*/3', day_of_week='mon-fri')``.

    Fields read back as sets, as in Celery: ``crontab(hour='9-17').hour == {9, ..., 17}``.
    """

    def __init__(self, minute: Any = "*", hour: Any = "*", day_of_week: Any = "*", day_of_month: Any = "*",
                 month_of_year: Any = "*", nowfun: Callable[[], datetime] | None = None, app: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(nowfun=nowfun, app=app)
        self.fields = {
            "minute": CronField(minute, 60),
            "hour": CronField(hour, 24),
            "day_of_week": CronField(day_of_week, 7, names=_WEEKDAYS),
            "day_of_month": CronField(day_of_month, 31, 1),
            "month_of_year": CronField(month_of_year, 12, 1, names=_MONTHS),
        }
        self.minute = set(self.fields["minute"].values)
        self.hour = set(self.fields["hour"].values)
        self.day_of_week = set(self.fields["day_of_week"].values)
        self.day_of_month = set(self.fields["day_of_month"].values)
        self.month_of_year = set(self.fields["month_of_year"].values)
        if not any(day <= _DAYS_IN_MONTH[month] for month in self.month_of_year for day in self.day_of_month):
            raise ValueError(f"Invalid crontab date: day_of_month={day_of_month!r} never occurs in "
                             f"month_of_year={month_of_year!r}")
        self._sorted_minutes = sorted(self.minute)
        self._sorted_hours = sorted(self.hour)

    @classmethod
    def from_string(cls, expression: str) -> "crontab":
        """``crontab.from_string('*/15 9-17 * * mon-fri')``: minute hour day-of-month month day-of-week."""
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"Invalid crontab expression {expression!r}: expected 5 fields")
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return cls(minute, hour, day_of_week, day_of_month, month_of_year)

    # -- matching, in local wall time ---------------------------------------------------------------
    def _date_matches(self, moment: datetime) -> bool:
        return (moment.month in self.month_of_year and moment.day in self.day_of_month
                and moment.isoweekday() % 7 in self.day_of_week)

    def _next_wall(self, wall: datetime) -> datetime:
        """The first naive local time at or after ``wall`` (whole minute) that every field matches."""
        limit = wall.year + _SEARCH_YEARS
        while wall.year <= limit:
            if wall.month not in self.month_of_year:
                wall = (wall.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._date_matches(wall):
                wall = wall.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            hour = next((h for h in self._sorted_hours if h >= wall.hour), None)
            if hour is None:
                wall = wall.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if hour != wall.hour:
                wall = wall.replace(hour=hour, minute=0)
            minute = next((m for m in self._sorted_minutes if m >= wall.minute), None)
            if minute is None:
                wall = wall.replace(minute=0) + timedelta(hours=1)
                continue
            return wall.replace(minute=minute)
        raise ValueError(f"{self!r} has no due time within {_SEARCH_YEARS} years")

    def next_run_after(self, moment: datetime) -> datetime:
        moment = _aware(moment)
        local = moment.astimezone(self.tz)
        wall = local.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        while True:
            wall = self._next_wall(wall)
            instant, shifted = _wall_to_instant(wall, self.tz)
            if instant > moment:
                if shifted:
                    # A skipped local time moves forward by the gap, possibly past a later real match.
                    instant = self._earliest_near_gap(wall, instant, moment)
                return instant
            wall += timedelta(minutes=1)

    def _earliest_near_gap(self, wall: datetime, instant: datetime, moment: datetime) -> datetime:
        best = instant
        probe = wall + timedelta(minutes=1)
        horizon = wall + timedelta(hours=3)
        while probe <= horizon:
            probe = self._next_wall(probe)
            if probe > horizon:
                break
            candidate, _ = _wall_to_instant(probe, self.tz)
            if moment < candidate < best:
                best = candidate
            probe += timedelta(minutes=1)
        return best

    def is_due(self, last_run_at: datetime) -> schedstate:
        """Celery's ``crontab.is_due``, including ``beat_cron_starting_deadline`` (from ``app.conf``)."""
        remaining = self.remaining_estimate(last_run_at).total_seconds()
        due = remaining <= 0
        passed_deadline = False
        deadline = self._starting_deadline()
        if remaining < 0 and deadline is not None:
            # No due time within [now - deadline, now]: the missed run is too old to send.
            now = self.now()
            if self.latest_due_at_or_before(now - timedelta(seconds=deadline, microseconds=1), now) is None:
                due, passed_deadline = False, True
        if due or passed_deadline:
            return schedstate(due, max(self.remaining_estimate(self.now()).total_seconds(), 0))
        return schedstate(False, remaining)

    def _starting_deadline(self) -> float | None:
        conf = getattr(self.app, "conf", None)
        value = conf.get("beat_cron_starting_deadline") if conf is not None else None
        return float(value) if value is not None else None

    def cron_fields(self) -> list[str]:
        """The five fields as a cron line writes them: minute, hour, day of month, month, day of week."""
        return [self.fields[name].text() for name in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")]

    def __repr__(self) -> str:
        minute, hour, day_of_month, month_of_year, day_of_week = self.cron_fields()
        return f"<crontab: {minute} {hour} {day_of_month} {month_of_year} {day_of_week} (m/h/dM/MY/d)>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, crontab):
            return all(self.fields[name].values == other.fields[name].values for name in self.fields)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self.fields[name].values for name in sorted(self.fields)))

    def __reduce__(self) -> Any:
        return type(self), tuple(self.fields[name].original for name in
                                 ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"))


def _wall_to_instant(wall: datetime, zone: tzinfo) -> tuple[datetime, bool]:
    """A naive local time as a UTC instant: its first occurrence when repeated, and (PEP 495 ``fold=0``)
    shifted forward by the gap when it does not exist. The flag says whether it was shifted."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    exists = first.astimezone(zone).replace(tzinfo=None) == wall
    return first, not exists


class solar(_BaseSchedule):  # noqa: N801 - Celery's name
    """A schedule by sun events (Celery's ``solar``). It can be built and put in ``beat_schedule``;
    ``cfq-shim beat`` refuses it at start-up, naming the entry (docs/beat.md)."""

    EVENTS = (
        "dawn_astronomical", "dawn_nautical", "dawn_civil", "sunrise", "solar_noon", "sunset", "dusk_civil",
        "dusk_nautical", "dusk_astronomical",
    )

    def __init__(self, event: str, lat: float, lon: float, nowfun: Callable[[], datetime] | None = None,
                 app: Any = None, **kwargs: Any) -> None:
        super().__init__(nowfun=nowfun, app=app)
        if event not in self.EVENTS:
            raise ValueError(f"Argument event {event!r} is invalid, must be one of {', '.join(self.EVENTS)}")
        if not -90 <= lat <= 90:
            raise ValueError("Argument lat must be between -90 and 90 degrees")
        if not -180 <= lon <= 180:
            raise ValueError("Argument lon must be between -180 and 180 degrees")
        self.event, self.lat, self.lon = event, lat, lon

    def next_run_after(self, moment: datetime) -> datetime:
        raise NotImplementedError(
            "solar schedules are not supported by cfq-shim beat; use a crontab at the local time instead")

    def __repr__(self) -> str:
        return f"<solar: {self.event} at latitude {self.lat}, longitude: {self.lon}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, solar):
            return (self.event, self.lat, self.lon) == (other.event, other.lat, other.lon)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.event, self.lat, self.lon))


class clocked(_BaseSchedule):  # noqa: N801 - django_celery_beat's name
    """Due once, at ``clocked_time`` (django_celery_beat's ``ClockedSchedule``)."""

    def __init__(self, clocked_time: datetime, nowfun: Callable[[], datetime] | None = None, app: Any = None) -> None:
        super().__init__(nowfun=nowfun, app=app)
        self.clocked_time = _aware(clocked_time).astimezone(UTC)

    def next_run_after(self, moment: datetime) -> datetime:
        return self.clocked_time if self.clocked_time > _aware(moment) else NEVER

    def is_due(self, last_run_at: datetime) -> schedstate:
        remaining = max((self.clocked_time - self.now()).total_seconds(), 0)
        return schedstate(remaining == 0, remaining)

    def __repr__(self) -> str:
        return f"<clocked: {self.clocked_time}>"


def maybe_schedule(value: Any, relative: bool = False, app: Any = None) -> Any:
    """Celery's ``maybe_schedule``: seconds or a timedelta become a :class:`schedule`; schedules pass."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"not a schedule: {value!r}")
    if isinstance(value, (int, float, timedelta)):
        return schedule(value, relative, app=app)
    if app is not None and isinstance(value, _BaseSchedule):
        value.app = app
        conf = getattr(app, "conf", None)
        if conf is not None:
            value.tz = resolve_timezone(conf.get("timezone"), bool(conf.get("enable_utc", True)))
    return value
