"""``cfq-shim beat`` as real processes: start-up errors, SIGTERM, restarts, two beats, a killed holder.

Every beat logs each run it sends ("Sending due task NAME ... [due ISO, id ID]") and the messages land
in an embedded SQLite queue; the tests read both. A run's task id is derived from the entry and the
due time, so a message id seen twice in the queue is a duplicate run.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from cfq_shim.envelope import decode
from cfq_shim.transport.base import QueueNotFound
from cfq_shim.transport.sqlite import SQLiteTransport

PROJECT = '''
from datetime import timedelta
from cfq_shim import Celery
from cfq_shim.schedules import crontab

app = Celery("proj", broker="sqlite:///queues.sqlite3")
app.conf.beat_schedule = {
    "every-second": {"task": "proj.tick", "schedule": 1.0, "args": ("s",)},
    "every-2s": {"task": "proj.tick", "schedule": timedelta(seconds=2), "args": ("2s",), "options": {"queue": "other"}},
    "every-minute": {"task": "proj.tick", "schedule": crontab(), "args": ("m",)},
}

@app.task
def tick(label):
    return label
'''

SENT = re.compile(r"Sending due task (?P<name>\S+) \((?P<task>[^)]+)\) \[due (?P<due>\S+), id (?P<id>[0-9a-f-]+)\]")
HOLDING = "holding the lease"


class BeatHarness:
    def __init__(self, tmp_path: Path, project: str = PROJECT) -> None:
        self.dir = tmp_path
        (tmp_path / "proj.py").write_text(project)
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def beat(self, *flags: str) -> subprocess.Popen:
        log = self.dir / f"beat-{len(self.logs)}.log"
        env = {**os.environ, "PYTHONPATH": str(self.dir), "PYTHONUNBUFFERED": "1"}
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", "proj", "beat", "-l", "info", *flags],
                                    cwd=self.dir, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(self.dir)}
        return subprocess.run([sys.executable, "-m", "cfq_shim", "-A", "proj", *args], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=timeout)

    def log(self, index: int) -> str:
        return self.logs[index].read_text()

    def sends(self, index: int | None = None) -> list[dict]:
        indexes = range(len(self.logs)) if index is None else [index]
        found = []
        for i in indexes:
            for line in self.log(i).splitlines():
                match = SENT.search(line)
                if match:
                    found.append({**match.groupdict(), "beat": i, "at": _log_time(line)})
        return found

    def wait_for(self, predicate, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; logs:\n" + "\n".join(self.log(i)[-2000:] for i in range(len(self.logs))))

    def queued_ids(self) -> Counter:
        transport = SQLiteTransport(str(self.dir / "queues.sqlite3"))
        ids: Counter = Counter()
        try:
            for queue in ("celery", "other"):
                while True:
                    try:
                        batch = transport.pull(queue, batch_size=100, visibility_timeout_ms=60_000)
                    except QueueNotFound:  # no run was sent to it
                        break
                    if not batch:
                        break
                    ids.update(decode(message.body).id for message in batch)
                    transport.ack(queue, acks=[message.lease_id for message in batch])
        finally:
            transport.close()
        return ids

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _log_time(line: str) -> float:
    stamp = line[1:24]
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


@pytest.fixture
def harness(tmp_path):
    h = BeatHarness(tmp_path)
    yield h
    h.stop_all()


def test_an_unregistered_task_is_a_one_line_error_naming_the_entry(tmp_path):
    harness = BeatHarness(tmp_path, PROJECT.replace('"task": "proj.tick", "schedule": 1.0', '"task": "proj.tock", "schedule": 1.0'))
    result = harness.run("beat")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: beat_schedule entry 'every-second': task 'proj.tock' is not registered (is its module imported by "
        "the app: include/imports/autodiscover?)"]


def test_an_unreadable_schedule_file_is_a_one_line_error_naming_it(harness):
    (harness.dir / "celerybeat-schedule").write_bytes(b"\x00\x06\x15\x61 a shelve file" * 200)
    result = harness.run("beat")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "celerybeat-schedule" in result.stderr and "Traceback" not in result.stderr


def test_a_worker_with_a_schedule_and_no_beat_warns_at_start(harness):
    proc = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", "proj", "worker", "-P", "solo"], cwd=harness.dir,
                            env={**os.environ, "PYTHONPATH": str(harness.dir)}, stderr=subprocess.PIPE, text=True)
    harness.procs.append(proc)
    line = proc.stderr.readline()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert "3 periodic task(s) in beat_schedule" in line and "cfq-shim beat" in line


def test_sigterm_stops_cleanly_and_releases_the_lease(harness):
    proc = harness.beat("--lease", "30")
    harness.wait_for(lambda: harness.sends(0), "a first run")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert "released the lease" in harness.log(0) and "Traceback" not in harness.log(0)
    with sqlite3.connect(harness.dir / "celerybeat-schedule") as conn:
        assert conn.execute("SELECT COUNT(*) FROM beat_lease").fetchone()[0] == 0


def test_a_pidfile_naming_a_running_beat_refuses_a_second_one(harness):
    harness.beat("--pidfile", "beat.pid")
    harness.wait_for(lambda: (harness.dir / "beat.pid").exists(), "the pidfile")
    result = harness.run("beat", "--pidfile", "beat.pid")
    assert result.returncode == 1 and "is it already running?" in result.stderr


@pytest.mark.slow  # several seconds of real processes: CI's slow run has it
def test_a_restart_within_a_period_does_not_repeat_a_run(tmp_path):
    # Given one entry every 4 s
    project = PROJECT.split("app.conf.beat_schedule")[0] + (
        'app.conf.beat_schedule = {"every-4s": {"task": "proj.tick", "schedule": 4.0, "args": ("x",)}}\n'
        "@app.task\ndef tick(label):\n    return label\n")
    harness = BeatHarness(tmp_path, project)
    try:
        first = harness.beat()
        # When beat sends a run and is restarted right after it
        harness.wait_for(lambda: harness.sends(0), "a first run")
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        harness.beat()
        harness.wait_for(lambda: HOLDING in harness.log(1), "the second beat to hold the lease")
        harness.wait_for(lambda: harness.sends(1), "the next run")
        harness.procs[1].send_signal(signal.SIGTERM)
        assert harness.procs[1].wait(30) == 0
    finally:
        harness.stop_all()
    # Then the restarted beat sent the next due time, not the one already sent
    first_run, second_run = harness.sends(0), harness.sends(1)
    assert len(first_run) == 1 and second_run[0]["due"] != first_run[0]["due"]
    step = (datetime.fromisoformat(second_run[0]["due"]) - datetime.fromisoformat(first_run[0]["due"])).total_seconds()
    assert step > 0 and step % 4.0 == 0  # the next due time (or, on a slow machine, a later one: sent once)
    ids = harness.queued_ids()
    assert max(ids.values()) == 1 and len(ids) == len(first_run) + len(second_run)


def _gaps(sends: list[dict], name: str, period: float) -> list[float]:
    """Steps between consecutive due times sent for ``name`` that are not one period."""
    dues = sorted(datetime.fromisoformat(s["due"]).timestamp() for s in sends if s["name"] == name)
    return [round(b - a, 3) for a, b in zip(dues, dues[1:]) if abs((b - a) - period) > 0.001]


@pytest.mark.slow
def test_two_beats_for_30_seconds_send_each_run_once(harness):
    # Given two beat processes on one schedule file
    harness.beat("--lease", "5")
    harness.beat("--lease", "5")
    # When they run for 30 s
    time.sleep(30)
    for proc in harness.procs:
        proc.send_signal(signal.SIGTERM)
    assert [proc.wait(30) for proc in harness.procs] == [0, 0]
    sends = harness.sends()
    # Then each due time was sent once (by whichever beat held the lease), with no gap, and the queue holds
    # each run once
    per_due = Counter((s["name"], s["due"]) for s in sends)
    assert max(per_due.values()) == 1
    assert _gaps(sends, "every-second", 1.0) == []
    assert _gaps(sends, "every-2s", 2.0) == []
    assert len([s for s in sends if s["name"] == "every-second"]) >= 10
    ids = harness.queued_ids()
    duplicates = sum(count - 1 for count in ids.values())
    senders = sorted({s["beat"] for s in sends})
    print(f"\ntwo beats, 30 s: {len(sends)} runs sent by beat(s) {senders}, {duplicates} duplicate(s) in the queue")
    assert duplicates == 0 and len(ids) == len(sends)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["one-schedule-file", "result-backend"])
def test_killing_the_holder_hands_over_within_the_lease_without_duplicate_or_gap(tmp_path, where):
    # Given two beats sharing one schedule file (one machine), or each with its own schedule file and the
    # lease in a shared result backend (as on two machines)
    project = PROJECT
    if where == "result-backend":
        project = PROJECT.replace('broker="sqlite:///queues.sqlite3")', 'broker="sqlite:///queues.sqlite3", backend="sqlite:///results.sqlite3")')
    harness = BeatHarness(tmp_path, project)
    try:
        _kill_the_holder(harness, where)
    finally:
        harness.stop_all()


def _kill_the_holder(harness: BeatHarness, where: str) -> None:
    lease = 3.0
    flags = [["--lease", str(lease)], ["--lease", str(lease)]]
    if where == "result-backend":
        flags = [[*flags[0], "--lock", "backend", "-s", "machine-a"], [*flags[1], "--lock", "backend", "-s", "machine-b"]]
    harness.beat(*flags[0])
    harness.wait_for(lambda: HOLDING in harness.log(0), "the first beat to hold the lease")
    harness.beat(*flags[1])
    harness.wait_for(lambda: len(harness.sends(0)) >= 6, "the holder to send a few runs")
    # When the holder is killed with SIGKILL (it cannot release its lease)
    killed_at = time.time()
    harness.procs[0].kill()
    harness.procs[0].wait(10)
    harness.wait_for(lambda: HOLDING in harness.log(1), "the standby to take over", timeout=lease * 5)
    harness.wait_for(lambda: len(harness.sends(1)) >= 6, "the standby to send a few runs")
    harness.procs[1].send_signal(signal.SIGTERM)
    assert harness.procs[1].wait(30) == 0
    sends = harness.sends()
    took_over_at = next(_log_time(line) for line in harness.log(1).splitlines() if HOLDING in line)
    handover = took_over_at - killed_at
    # Then: no due time twice, none skipped, and the standby took over within the lease (+ its check interval)
    per_due = Counter((s["name"], s["due"]) for s in sends)
    ids = harness.queued_ids()
    duplicates = sum(count - 1 for count in ids.values())
    print(f"\nhandover after SIGKILL ({where}): {handover:.2f} s (lease {lease} s); {duplicates} duplicate(s)")
    assert max(per_due.values()) == 1 and duplicates == 0
    # Runs missed during the handover are sent once (the latest), so the only gap is at most the handover
    bound = lease + lease / 3 + 3.0  # the lease + one standby check + process scheduling slack
    assert all(gap <= bound + 1.0 for gap in _gaps(sends, "every-second", 1.0))
    assert all(gap <= bound + 2.0 for gap in _gaps(sends, "every-2s", 2.0))
    assert handover <= bound
