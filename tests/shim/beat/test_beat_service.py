"""The beat loop with an injected clock: once per due time, restarts, missed runs, the lease, claims."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cfq_shim.beat.entries import Entry
from cfq_shim.beat.lock import BackendCoordinator, FileCoordinator
from cfq_shim.beat.schedules import crontab, schedule
from cfq_shim.beat.service import Beat, run_task_id
from cfq_shim.beat.state import ScheduleFile, ScheduleFileError
from cfq_shim.results import open_backend

UTC = timezone.utc
START = datetime(2024, 6, 3, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, moment: datetime = START) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def epoch(self) -> float:
        return self.moment.timestamp()

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["schedule-file", "result-backend"])
def coordinated_by(request, tmp_path, clock):
    """Where the lease and the claims live: each beat's schedule file, or a result backend all share
    (then each beat also gets its own schedule file, as on separate machines)."""
    if request.param == "schedule-file":
        yield None
        return
    store = open_backend(f"sqlite:///{tmp_path}/results.sqlite3", now=clock.epoch)
    yield store
    store.close()


def _beat(path, clock, entries, sent, *, lease=10.0, owner="a", deadline=None, fail=None, store=None):
    schedule_file = ScheduleFile(str(path))
    coordinator = BackendCoordinator(store) if store is not None else FileCoordinator(schedule_file, clock=clock.epoch)

    def send(entry, due, task_id):
        if fail and fail():
            raise ConnectionError("broker down")
        sent.append((owner, entry.name, due, task_id))

    return Beat(entries, send=send, schedule_file=schedule_file,
                coordinator=coordinator, lease_seconds=lease,
                clock=clock, owner=owner, starting_deadline_seconds=deadline)


EVERY_10S = Entry(name="every-10s", task="t.tick", schedule=schedule(10))
QUARTER_HOURLY = Entry(name="quarter", task="t.tick", schedule=crontab(minute="*/15"))


def test_a_new_entry_first_runs_at_its_next_due_time_then_once_per_due_time(tmp_path, clock):
    sent = []
    beat = _beat(tmp_path / "s", clock, [EVERY_10S, QUARTER_HOURLY], sent)
    beat.tick()
    assert sent == []  # Celery's rule: nothing at start
    for _ in range(100):  # 100 ticks of 0.5 s: due at +10, +20, ..., +50
        clock.advance(seconds=0.5)
        beat.tick()
    assert [due for _, name, due, _ in sent if name == "every-10s"] == [START + timedelta(seconds=s) for s in (10, 20, 30, 40, 50)]
    assert not [name for _, name, _, _ in sent if name == "quarter"]
    clock.moment = datetime(2024, 6, 3, 12, 15, 1, tzinfo=UTC)
    beat.tick()
    beat.tick()
    assert [due for _, name, due, _ in sent if name == "quarter"] == [datetime(2024, 6, 3, 12, 15, tzinfo=UTC)]


def test_the_next_check_is_the_next_due_time_or_the_lease_renewal(tmp_path, clock):
    beat = _beat(tmp_path / "s", clock, [EVERY_10S], [], lease=60.0)
    assert beat.tick() == pytest.approx(10.0)
    clock.advance(seconds=4)
    assert beat.tick() == pytest.approx(6.0)
    short_lease = _beat(tmp_path / "t", clock, [EVERY_10S], [], lease=3.0)
    assert short_lease.tick() == pytest.approx(1.0)


def test_a_restart_within_a_period_does_not_repeat_and_a_missed_run_is_sent_once(tmp_path, clock):
    sent = []
    first = _beat(tmp_path / "s", clock, [QUARTER_HOURLY], sent, owner="first")
    first.tick()
    clock.moment = datetime(2024, 6, 3, 12, 15, 0, 500, tzinfo=UTC)
    first.tick()
    first.release()
    assert len(sent) == 1
    # Restarted within the period (same file): nothing is repeated
    clock.advance(minutes=5)
    second = _beat(tmp_path / "s", clock, [QUARTER_HOURLY], sent, owner="second")
    second.tick()
    assert len(sent) == 1
    second.release()
    # Down for 2 hours: 8 runs missed, one is sent (the latest), then the schedule continues
    clock.moment = datetime(2024, 6, 3, 14, 20, tzinfo=UTC)
    third = _beat(tmp_path / "s", clock, [QUARTER_HOURLY], sent, owner="third")
    third.tick()
    third.tick()
    assert [due for _, _, due, _ in sent[1:]] == [datetime(2024, 6, 3, 14, 15, tzinfo=UTC)]
    clock.moment = datetime(2024, 6, 3, 14, 30, tzinfo=UTC)
    third.tick()
    assert sent[-1][2] == datetime(2024, 6, 3, 14, 30, tzinfo=UTC) and len(sent) == 3


def test_the_starting_deadline_skips_a_crontab_run_missed_by_more_than_it(tmp_path, clock):
    sent = []
    beat = _beat(tmp_path / "s", clock, [QUARTER_HOURLY], sent, deadline=60)
    beat.tick()
    clock.moment = datetime(2024, 6, 3, 12, 17, tzinfo=UTC)  # due 12:15, two minutes late
    beat.tick()
    assert sent == []
    clock.moment = datetime(2024, 6, 3, 12, 30, 30, tzinfo=UTC)  # 30 s late: within the deadline
    beat.tick()
    assert [due for _, _, due, _ in sent] == [datetime(2024, 6, 3, 12, 30, tzinfo=UTC)]


def test_only_the_lease_holder_sends_and_a_standby_takes_over_after_the_lease(tmp_path, clock, coordinated_by):
    sent = []
    other_file = "s" if coordinated_by is None else "standby-machine"
    holder = _beat(tmp_path / "s", clock, [EVERY_10S], sent, owner="holder", lease=6.0, store=coordinated_by)
    standby = _beat(tmp_path / other_file, clock, [EVERY_10S], sent, owner="standby", lease=6.0, store=coordinated_by)
    holder.tick()
    standby.tick()
    for _ in range(38):  # 19 s, both ticking
        clock.advance(seconds=0.5)
        holder.tick()
        standby.tick()
    assert [owner for owner, *_ in sent] == ["holder"]
    # The holder dies at +19 s, just before a due time (stops ticking, keeps its lease row); the standby
    # takes over once the lease ran out, and sends the +20 s run late, once
    for _ in range(42):
        clock.advance(seconds=0.5)
        standby.tick()
    dues = [due for _, _, due, _ in sent]
    assert dues == [START + timedelta(seconds=s) for s in (10, 20, 30, 40)]  # no duplicate, no gap
    assert [owner for owner, *_ in sent] == ["holder", "standby", "standby", "standby"]
    assert standby.holding


def test_a_released_lease_is_taken_at_once(tmp_path, clock, coordinated_by):
    holder = _beat(tmp_path / "s", clock, [EVERY_10S], [], owner="holder", lease=60.0, store=coordinated_by)
    standby = _beat(tmp_path / "t", clock, [EVERY_10S], [], owner="standby", lease=60.0, store=coordinated_by)
    if coordinated_by is None:
        standby = _beat(tmp_path / "s", clock, [EVERY_10S], [], owner="standby", lease=60.0)
    holder.tick()
    standby.tick()
    assert holder.holding and not standby.holding
    holder.release()
    standby.tick()
    assert standby.holding


def test_a_run_claimed_but_not_sent_is_sent_by_the_next_holder_with_the_same_task_id(tmp_path, clock, coordinated_by):
    sent, broken = [], [True]
    holder = _beat(tmp_path / "s", clock, [EVERY_10S], sent, owner="holder", fail=lambda: broken[0], store=coordinated_by)
    holder.tick()
    clock.advance(seconds=10)
    holder.tick()  # claims +10 s, the send fails
    assert sent == []
    broken[0] = False
    holder.release()
    successor = _beat(tmp_path / "s", clock, [EVERY_10S], sent, owner="successor", store=coordinated_by)
    successor.tick()
    assert [(owner, due, task_id) for owner, _, due, task_id in sent] == [
        ("successor", START + timedelta(seconds=10), run_task_id("every-10s", START + timedelta(seconds=10)))]


def test_a_completed_claim_is_never_sent_again_even_by_a_beat_with_stale_state(tmp_path, clock, coordinated_by):
    # Given a holder that sent +10 s, and a beat whose own schedule file does not know it (another machine)
    sent = []
    holder = _beat(tmp_path / "shared", clock, [EVERY_10S], sent, owner="holder", store=coordinated_by)
    holder.tick()
    clock.advance(seconds=10)
    holder.tick()
    coordinator = holder.coordinator
    other_file = ScheduleFile(str(tmp_path / "other"))
    other = Beat([EVERY_10S], send=lambda e, d, i: sent.append(("other", e.name, d, i)), schedule_file=other_file,
                 coordinator=coordinator, clock=clock, owner="other", lease_seconds=10.0)
    other_file.start_entries({"every-10s": START})
    holder.release()
    other.tick()
    assert [owner for owner, *_ in sent] == ["holder"]
    assert other_file.last_due("every-10s") == START + timedelta(seconds=10)


def test_task_ids_depend_on_the_entry_and_the_due_time():
    assert run_task_id("a", START) == run_task_id("a", START.astimezone(timezone(timedelta(hours=2))))
    assert len({run_task_id("a", START), run_task_id("b", START), run_task_id("a", START + timedelta(seconds=1))}) == 3


def test_a_file_that_is_not_a_schedule_file_is_refused_with_its_path(tmp_path):
    shelve_like = tmp_path / "celerybeat-schedule"
    shelve_like.write_bytes(b"\x00\x06\x15\x61 not sqlite at all" * 100)
    with pytest.raises(ScheduleFileError, match="celerybeat-schedule"):
        ScheduleFile(str(shelve_like))
