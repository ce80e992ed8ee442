"""Celery's ``rate_limit`` in the worker (cfq_shim/worker/ratelimit.py).

The bucket is tested with a fake clock. The worker tests run an in-process worker on ``memory://`` with
the same fake clock for its buckets: time only moves when the test moves it, so the number of tasks that
ran at each step is exact (counted runs and granted tokens, never seconds). A last test runs a real
``cfq-shim worker`` process (prefork) and counts what ran and what was sent back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from cfq_shim.worker import Worker
from cfq_shim.worker.ratelimit import RateLimiter, TokenBucket, parse_rate


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


# --- parse_rate ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "per_second"), [
    ("10/s", 10.0), ("100/m", 100 / 60), ("1000/h", 1000 / 3600), ("5", 5.0), (5, 5.0), (0.5, 0.5),
    (" 2 / m ", 2 / 60),
])
def test_parse_rate_reads_celerys_forms(value, per_second):
    assert parse_rate(value) == pytest.approx(per_second)


@pytest.mark.parametrize("value", [None, "", 0, "0/s", "0"])
def test_parse_rate_no_limit(value):
    assert parse_rate(value) is None


@pytest.mark.parametrize(("value", "says"), [
    ("10/d", "the unit must be s, m or h"), ("ten/s", "use a number"), (True, "use a number"),
    ([10], "use a number"), ("inf/s", "finite"),
])
def test_parse_rate_refuses_what_celery_cannot_read(value, says):
    with pytest.raises(ValueError, match=says):
        parse_rate(value)


# --- TokenBucket ----------------------------------------------------------------------------------------


def test_a_full_bucket_grants_one_token_now_and_the_next_after_one_fill_interval():
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock)

    first, second, third = (bucket.reserve() for _ in range(3))

    assert (first.granted, first.wait_seconds) == (True, 0.0)
    assert (second.granted, second.wait_seconds) == (True, pytest.approx(0.5))
    assert (third.granted, third.wait_seconds) == (True, pytest.approx(1.0))
    assert bucket.granted == 3


def test_a_refused_reservation_takes_nothing():
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock)
    assert bucket.try_acquire()

    refused = bucket.reserve(max_wait_seconds=0.1)

    assert (refused.granted, refused.wait_seconds) == (False, pytest.approx(0.5))
    assert not bucket.try_acquire()
    clock.advance(0.5)
    assert bucket.try_acquire()
    assert bucket.granted == 2


def test_a_bucket_of_one_token_allows_no_burst_after_a_long_idle():
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock)
    clock.advance(3600)

    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    assert bucket.reserve().wait_seconds == pytest.approx(0.1)


def test_reservations_from_many_threads_each_get_their_own_token():
    clock = FakeClock()
    bucket = TokenBucket(4.0, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def reserve_many() -> None:
        for _ in range(50):
            reservation = bucket.reserve()
            with lock:
                waits.append(reservation.wait_seconds)

    threads = [threading.Thread(target=reserve_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 400 tokens at 4/s: one every 0.25 s of the fake clock, none shared, none skipped.
    assert bucket.granted == 400
    assert sorted(waits) == pytest.approx([index * 0.25 for index in range(400)])


def test_bucket_refuses_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


# --- RateLimiter ----------------------------------------------------------------------------------------


class _Task:
    def __init__(self, name: str, rate_limit) -> None:
        self.name = name
        self.rate_limit = rate_limit


def test_limiter_has_one_bucket_per_task_name_and_none_without_a_limit():
    limiter: RateLimiter[str] = RateLimiter(clock=FakeClock())

    bucket = limiter.bucket_for(_Task("a", "10/m"))

    assert bucket is not None and bucket.rate_per_second == pytest.approx(10 / 60)
    assert limiter.bucket_for(_Task("a", "10/m")) is bucket
    assert limiter.bucket_for(_Task("b", None)) is None
    assert RateLimiter(disabled=True).bucket_for(_Task("a", "10/m")) is None
    with pytest.raises(ValueError, match="task 'c': invalid rate limit '3/week'"):
        limiter.bucket_for(_Task("c", "3/week"))


def test_limiter_releases_held_items_when_due_in_order():
    clock = FakeClock()
    limiter: RateLimiter[str] = RateLimiter(clock=clock)
    limiter.hold("late", wait_seconds=1.0)
    limiter.hold("soon", wait_seconds=0.5)
    limiter.hold("also-soon", wait_seconds=0.5)

    assert limiter.pop_due() == []
    assert limiter.seconds_until_next() == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.pop_due() == ["soon", "also-soon"]
    assert limiter.held == 1
    assert limiter.take_all() == ["late"]
    assert limiter.seconds_until_next() is None


# --- the worker -------------------------------------------------------------------------------------------


@pytest.fixture
def app(make_app):
    return make_app("throttled")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def start(start_worker, clock):
    """``start_worker`` with the buckets' clock, and room for every message of a test at once (a held task
    must not stop the next pull)."""
    return lambda **options: start_worker(rate_limit_clock=clock, **{"prefetch_multiplier": 5, **options})


def send_and_start(start, task, runs: list, *, calls: int, wait_until) -> Worker:
    """Send ``calls`` calls of a rate-limited ``task`` and start a worker: with the buckets' clock frozen,
    one call runs and the others wait for their tokens."""
    for n in range(calls):
        task.delay(n)
    worker = start()
    wait_until(lambda: len(runs) == 1 and worker.rate_limits.held == calls - 1,
               what=f"one run and {calls - 1} waiting")
    return worker


def test_a_rate_limited_task_runs_no_faster_than_its_bucket_and_other_tasks_do_not_wait(app, start, clock, wait_until):
    limited_runs: list[int] = []
    other_runs: list[int] = []

    @app.task(rate_limit="2/s")
    def limited(n):
        limited_runs.append(n)

    @app.task
    def other(n):
        other_runs.append(n)

    # Given five rate-limited calls, then three calls of another task type
    worker = send_and_start(start, limited, limited_runs, calls=5, wait_until=wait_until)
    for n in range(3):
        other.delay(n)

    # Then the other type runs while the limited ones wait, without holding a slot
    wait_until(lambda: len(other_runs) == 3, what="the other task type to run")
    bucket = worker.rate_limits.bucket_for(limited)
    assert bucket is not None and bucket.granted == 5
    assert limited_runs == [0]
    # And each half second of the bucket's clock lets exactly one more run, in order
    for step in range(1, 5):
        clock.advance(0.5)
        wait_until(lambda: len(limited_runs) == step + 1, what=f"run {step + 1}")
        assert worker.rate_limits.held == 4 - step
        assert limited_runs == list(range(step + 1))
    worker.drain(10)
    assert bucket.granted == 5
    stats = app.transport.stats("celery")
    assert (stats.ready, stats.delayed, stats.in_flight, stats.dead_letters) == (0, 0, 0, 0)


def test_worker_disable_rate_limits_turns_them_off(app, start):
    runs: list[int] = []

    @app.task(rate_limit="2/s")
    def limited(n):
        runs.append(n)

    app.conf.worker_disable_rate_limits = True
    for n in range(5):
        limited.delay(n)

    # The bucket's clock never moves: only a worker without rate limits can run all five.
    worker = start()
    worker.drain(10)

    assert sorted(runs) == [0, 1, 2, 3, 4]
    assert worker.rate_limits.bucket_for(limited) is None
    assert worker.rate_limits.held == 0


def test_rate_limits_come_from_the_task_default_and_task_annotations(app, start):
    @app.task
    def plain():
        pass

    @app.task
    def annotated():
        pass

    @app.task(rate_limit="3/s")
    def own():
        pass

    app.conf.task_default_rate_limit = "100/h"
    app.conf.task_annotations = {"test_ratelimit.annotated": {"rate_limit": "7/m"}}

    worker = start()

    rates = {task.__name__: worker.rate_limits.bucket_for(task).rate_per_second for task in (plain, annotated, own)}
    assert rates == pytest.approx({"plain": 100 / 3600, "annotated": 7 / 60, "own": 3.0})


def test_a_token_beyond_the_lease_sends_the_message_back_with_that_delay(app, start, wait_until):
    runs: list[int] = []

    @app.task
    def report(n):
        runs.append(report.request.retries)

    # task_default_rate_limit fills tasks without one; 1/m means the second token comes in 60 s,
    # past a 30 s lease
    app.conf.task_default_rate_limit = "1/m"
    app.conf.broker_visibility_timeout = 30
    for n in range(3):
        report.delay(n)
    worker = start()

    def sent_back() -> bool:
        stats = app.transport.stats("celery")
        return len(runs) == 1 and stats.delayed == 2 and stats.ready == 0 and stats.in_flight == 0

    wait_until(sent_back, what="one run and two messages sent back with a delay")
    assert runs == [0]  # the run is not counted as a retry
    assert worker.rate_limits.held == 0
    assert worker.rate_limits.bucket_for(report).granted == 1
    assert app.transport.stats("celery").dead_letters == 0


def test_warm_shutdown_hands_back_tasks_waiting_for_a_token(app, start, wait_until):
    runs: list[int] = []

    @app.task(rate_limit="2/s")
    def limited(n):
        runs.append(n)

    worker = send_and_start(start, limited, runs, calls=3, wait_until=wait_until)

    worker.stop()

    assert runs == [0]
    stats = app.transport.stats("celery")
    assert (stats.ready, stats.in_flight) == (2, 0)


def test_an_unreadable_rate_limit_stops_the_worker_at_start(app):
    @app.task(rate_limit="10/fortnight")
    def limited():
        pass

    with pytest.raises(ValueError, match="task 'test_ratelimit.limited'.*'10/fortnight'"):
        Worker(app, pool="threads").start()


RATE_LIMITED_PROJECT = """
import os

from cfq_shim import Celery

app = Celery("throttled", broker=os.environ["TEST_BROKER_URL"])
RUNS = os.environ["TEST_RUNS_FILE"]


def record(line):
    with open(RUNS, "a") as out:
        out.write(line + "\\n")


@app.task(rate_limit="1/m")
def poll(n):
    record(f"poll {n}")


@app.task
def ping(n):
    record(f"ping {n}")
"""


def test_a_real_worker_sends_back_what_its_rate_limit_cannot_run_within_the_lease(tmp_path, wait_until):
    (tmp_path / "throttled.py").write_text(RATE_LIMITED_PROJECT)
    runs = tmp_path / "runs.txt"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TEST_BROKER_URL": f"sqlite:///{tmp_path / 'q.sqlite3'}",
           "TEST_RUNS_FILE": str(runs)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    cfq_shim = [sys.executable, "-m", "cfq_shim", "-A", "throttled"]
    # Given three calls of a 1/m task and three of an unlimited one
    sent = subprocess.run([sys.executable, "-c", "from throttled import poll, ping\n"
                           "for n in range(3):\n    poll.delay(n); ping.delay(n)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr

    def lines() -> list[str]:
        return runs.read_text().split("\n")[:-1] if runs.exists() else []

    def queue() -> dict:
        result = subprocess.run([*cfq_shim, "inspect", "--json"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        [row] = [q for q in json.loads(result.stdout)["queues"] if q["queue"] == "celery"]
        return row

    # When a real worker (the default prefork pool) runs them
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        # A 30 s lease: the 1/m task's next token (60 s away) comes too late for it
        worker = subprocess.Popen([*cfq_shim, "worker", "-c", "2", "-l", "info", "--visibility-timeout", "30"],
                                  cwd=tmp_path, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        def settled() -> bool:
            assert worker.poll() is None, log.read_text()
            if len([line for line in lines() if line.startswith("ping")]) < 3:
                return False
            row = queue()
            return row["delayed"] == 2 and row["ready"] == 0 and row["in_flight"] == 0

        wait_until(settled, what="the pings to run and two polls to be sent back", timeout_seconds=60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    # Then one poll ran (the bucket's one token), every ping ran, and the other polls wait in the queue
    polls = [line for line in lines() if line.startswith("poll")]
    assert len(polls) == 1
    assert sorted(line for line in lines() if line.startswith("ping")) == ["ping 0", "ping 1", "ping 2"]
    assert queue()["dead_letters"] == 0
    assert log.read_text().count("rate-limited (1/m): sent back to 'celery'") == 2
