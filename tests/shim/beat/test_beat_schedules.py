"""Schedules against real Celery 5.7: the same crontab, the same last run, the same clock, the same answer.

Each case walks eight consecutive due times from a start instant (feeding each due time, or a late send
time, back as ``last_run_at``) through Celery's ``crontab.remaining_estimate`` and through ours, across
DST transitions (Berlin, New York), month ends and leap days.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from celery import Celery as RealCelery
from celery.schedules import crontab as celery_crontab
from celery.schedules import schedule as celery_schedule

from cfq_shim.beat.schedules import crontab, resolve_timezone, schedule, solar
from cfq_shim.schedules import crontab as crontab_by_celerys_path

UTC = timezone.utc
NOW = datetime(2020, 1, 1, tzinfo=UTC)  # fixed clock: remaining_estimate then reads as "next due - NOW"

CRONTABS = [
    {}, {"minute": 30, "hour": 2}, {"minute": "*/15"}, {"minute": 0}, {"minute": 30},
    {"minute": 0, "hour": "*/3"}, {"minute": 0, "hour": 0, "day_of_month": 31},
    {"minute": 0, "hour": 0, "day_of_month": "29-31"}, {"minute": 15, "hour": 1, "day_of_week": "sun"},
    {"minute": 0, "hour": 9, "day_of_week": "mon-fri"}, {"minute": 0, "hour": 0, "day_of_month": 1, "month_of_year": "*/3"},
    {"minute": 0, "hour": 12, "day_of_month": 29, "month_of_year": 2}, {"minute": "0,30", "hour": "1-3"},
    {"minute": 0, "hour": 0, "day_of_month": "1", "day_of_week": "mon"}, {"minute": "5-50/10", "hour": "22-2"},
]
STARTS = {
    # spring forward (02:00 -> 03:00), fall back (03:00 -> 02:00), a 31-day month end, a leap February, new year
    "Europe/Berlin": [datetime(2024, 3, 31, 0, 0), datetime(2024, 10, 27, 0, 0), datetime(2024, 1, 30, 23, 0),
                      datetime(2024, 2, 28, 22, 0), datetime(2023, 12, 31, 23, 50)],
    "America/New_York": [datetime(2024, 3, 10, 0, 0), datetime(2024, 11, 3, 0, 0)],
    "UTC": [datetime(2024, 2, 28, 23, 0), datetime(2023, 2, 28, 23, 0), datetime(2024, 12, 31, 23, 59)],
}
CASES = [(zone, fields, start) for zone, starts in STARTS.items() for fields in CRONTABS for start in starts]


def _celery_app(zone: str) -> RealCelery:
    app = RealCelery(set_as_current=False)
    app.conf.timezone = zone
    return app


@pytest.mark.parametrize("lag_seconds", [0, 7])
@pytest.mark.parametrize(("zone", "fields", "start"), CASES, ids=[f"{z}-{f}-{s:%m%d%H%M}" for z, f, s in CASES])
def test_next_due_times_match_celerys_remaining_estimate(zone, fields, start, lag_seconds):
    # Given the same crontab in the same zone, and a beat that sends each run `lag_seconds` late
    tz = ZoneInfo(zone)
    theirs_app = _celery_app(zone)
    ours = crontab(**fields, nowfun=lambda: NOW)
    ours.tz = tz
    theirs = celery_crontab(**fields, nowfun=lambda: NOW, app=theirs_app)
    last_ours = last_theirs = start.replace(tzinfo=tz).astimezone(UTC)
    lag = timedelta(seconds=lag_seconds)
    for _ in range(8):
        # When each computes the next due time after the previous run
        due_theirs = NOW + theirs.remaining_estimate(last_theirs)
        due_ours = ours.next_run_after(last_ours)
        # Then they agree (and ours is strictly after the last run)
        assert due_ours == due_theirs, (due_ours.astimezone(tz), due_theirs.astimezone(tz))
        assert due_ours > last_ours
        last_ours, last_theirs = due_ours + lag, due_theirs + lag


def _walk(entry: crontab, start: datetime, count: int) -> list[datetime]:
    due, out = start, []
    for _ in range(count):
        due = entry.next_run_after(due)
        out.append(due)
    return out


def test_a_time_in_the_skipped_hour_runs_once_shifted_by_the_gap():
    berlin = ZoneInfo("Europe/Berlin")
    entry = crontab(minute=30, hour=2)
    entry.tz = berlin
    runs = _walk(entry, datetime(2024, 3, 30, 12, tzinfo=berlin), 3)
    assert [run.astimezone(berlin).strftime("%d %H:%M") for run in runs] == ["31 03:30", "01 02:30", "02 02:30"]


def test_a_time_in_the_repeated_hour_runs_once_at_its_first_occurrence():
    berlin = ZoneInfo("Europe/Berlin")
    daily, hourly = crontab(minute=30, hour=2), crontab(minute=30)
    daily.tz = hourly.tz = berlin
    day = _walk(daily, datetime(2024, 10, 26, 12, tzinfo=berlin), 2)
    assert [run.astimezone(berlin).isoformat() for run in day] == ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]
    hours = _walk(hourly, datetime(2024, 10, 27, 1, 0, tzinfo=berlin), 3)
    assert [run.astimezone(berlin).strftime("%H:%M%z") for run in hours] == ["01:30+0200", "02:30+0200", "03:30+0100"]


def test_every_quarter_hour_across_the_skipped_hour_keeps_one_run_per_instant():
    berlin = ZoneInfo("Europe/Berlin")
    entry = crontab(minute="*/15")
    entry.tz = berlin
    runs = _walk(entry, datetime(2024, 3, 31, 1, 40, tzinfo=berlin), 5)
    assert len(set(runs)) == 5 and runs == sorted(runs)
    assert [run.astimezone(berlin).strftime("%H:%M") for run in runs] == ["01:45", "03:00", "03:15", "03:30", "03:45"]


@pytest.mark.parametrize(("last_offset_minutes", "now_offset_minutes"), [(0, 0), (-90, 0), (-90, -31), (-5, 0), (-30, 20)])
@pytest.mark.parametrize("deadline", [None, 60, 3600])
def test_is_due_matches_celery_with_and_without_the_starting_deadline(last_offset_minutes, now_offset_minutes, deadline):
    # Given an hourly crontab (minute 0), a last run and a clock around 12:00 UTC
    base = datetime(2024, 6, 3, 12, 0, 30, tzinfo=UTC)
    now = base + timedelta(minutes=now_offset_minutes)
    last = base + timedelta(minutes=last_offset_minutes)
    theirs_app = RealCelery(set_as_current=False)
    theirs_app.conf.beat_cron_starting_deadline = deadline

    class _Conf(dict):
        pass

    class _App:
        conf = _Conf(beat_cron_starting_deadline=deadline, enable_utc=True)

    theirs = celery_crontab(minute=0, nowfun=lambda: now, app=theirs_app)
    ours = crontab(minute=0, nowfun=lambda: now, app=_App())
    assert tuple(ours.is_due(last)) == tuple(theirs.is_due(last))


@pytest.mark.parametrize(("every", "last_offset", "relative"), [(10, -3, False), (10, -10, False), (10, -25, False), (3600, -100, False), (timedelta(minutes=5), 0, False)])
def test_interval_schedules_match_celery(every, last_offset, relative):
    now = datetime(2024, 6, 3, 12, 0, 0, tzinfo=UTC)
    last = now + timedelta(seconds=last_offset)
    ours = schedule(every, relative, nowfun=lambda: now)
    theirs = celery_schedule(every, relative, nowfun=lambda: now, app=RealCelery(set_as_current=False))
    assert ours.remaining_estimate(last) == theirs.remaining_estimate(last)
    assert tuple(ours.is_due(last)) == tuple(theirs.is_due(last))


def test_missed_runs_collapse_to_the_latest_due_time():
    entry = crontab(minute="*/15")
    start = datetime(2024, 6, 3, 12, 1, tzinfo=UTC)
    assert entry.latest_due_at_or_before(start, datetime(2024, 6, 3, 15, 20, tzinfo=UTC)) == datetime(2024, 6, 3, 15, 15, tzinfo=UTC)
    assert entry.latest_due_at_or_before(start, datetime(2024, 6, 3, 12, 14, tzinfo=UTC)) is None
    every = schedule(timedelta(seconds=10))
    assert every.latest_due_at_or_before(start, start + timedelta(seconds=95)) == start + timedelta(seconds=90)


FIELD_SPECS = {
    "minute": ["*/15", "1-10/3", "0,30", "5-50/10", 7, [1, 2], "*"],
    "hour": ["22-2", "*/6", "9-17", "0"],
    "day_of_week": ["mon-fri", "fri-mon", "sat,sun", "sunday", "*/2", "5-1", "0-6", "Tuesday"],
    "day_of_month": ["*/10", "31", "1-31/7", "29-3", "1,15"],
    "month_of_year": ["jan-mar", "*/3", "12", "dec", "nov-feb"],
}


@pytest.mark.parametrize(("field", "spec"), [(field, spec) for field, specs in FIELD_SPECS.items() for spec in specs])
def test_field_strings_expand_as_celerys(field, spec):
    assert getattr(crontab(**{field: spec}), field) == getattr(celery_crontab(**{field: spec}), field)


@pytest.mark.parametrize(("field", "spec"), [("minute", ""), ("minute", "60"), ("minute", "a"), ("minute", "*/"),
                                             ("minute", "-1"), ("minute", "*/0"), ("day_of_week", 7), ("day_of_week", "7"),
                                             ("month_of_year", 0), ("hour", "1-"), ("minute", "3/2")])
def test_bad_fields_raise_valueerror_as_celery(field, spec):
    with pytest.raises(Exception):
        celery_crontab(**{field: spec})
    with pytest.raises(ValueError):
        crontab(**{field: spec})


def test_an_impossible_date_is_refused_at_construction():
    with pytest.raises(ValueError, match="never occurs"):
        crontab(day_of_month=30, month_of_year=2)


def test_from_string_and_the_celery_import_path():
    entry = crontab_by_celerys_path.from_string("*/15 9-17 1 jan-mar mon-fri")
    theirs = celery_crontab.from_string("*/15 9-17 1 jan-mar mon-fri")
    for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"):
        assert getattr(entry, name) == getattr(theirs, name), name
    assert entry.cron_fields() == ["*/15", "9-17", "1", "jan-mar", "mon-fri"]


def test_timezone_resolution_follows_celerys_settings():
    assert resolve_timezone(None, True) is UTC
    assert resolve_timezone("Europe/Berlin", True) == ZoneInfo("Europe/Berlin")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        resolve_timezone("Mars/Olympus", True)


def test_solar_validates_like_celery_and_says_beat_cannot_run_it():
    with pytest.raises(ValueError, match="event"):
        solar("moonrise", 10, 10)
    with pytest.raises(NotImplementedError, match="solar"):
        solar("sunrise", 52.5, 13.4).next_run_after(NOW)
