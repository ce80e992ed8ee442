"""Reliability with real worker processes (``python -m cfq_shim -A recorder worker``) on a SQLite file.

Tasks (tests/e2e/apps/recorder.py) record ``start N PID`` and ``end N PID`` lines in a file, so the test
sees what ran, where, and whether it finished. Leases are short (2 s) where redelivery is the point.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cfq_shim.deadletter import parse
from cfq_shim.transport.sqlite import SQLiteTransport

APPS = Path(__file__).parent / "apps"
DEADLINE_SECONDS = 120


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "queues.sqlite3"
        self.records = tmp_path / "records.txt"
        self.records.touch()
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.env = {
            **os.environ,
            "CFQ_SHIM_BROKER_URL": f"sqlite:///{self.db}",
            "RECORDER_FILE": str(self.records),
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen] = []
        self._app = None

    @property
    def app(self):
        if self._app is None:
            os.environ.setdefault("RECORDER_FILE", str(self.records))
            sys.path.insert(0, str(APPS))
            try:
                import recorder
            finally:
                sys.path.remove(str(APPS))
            recorder.app.conf.broker_url = f"sqlite:///{self.db}"
            recorder.app.close()
            self._app = recorder
        return self._app

    def send(self, task: str, *args) -> str:
        return getattr(self.app, task).delay(*args).id

    def worker(self, *flags: str) -> subprocess.Popen:
        log = open(self.logs / f"worker-{len(self.processes)}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "cfq_shim", "-A", "recorder", "worker", "-l", "info", *flags],
            cwd=APPS, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def log_of(self, index: int) -> str:
        return (self.logs / f"worker-{index}.log").read_text()

    def events(self) -> list[tuple[str, int, int]]:
        """(kind, n, pid) per recorded line, in the order they were written."""
        result = []
        for line in self.records.read_text().splitlines():
            kind, n, pid = line.split()
            result.append((kind, int(n), int(pid)))
        return result

    def lines(self, kind: str) -> list[tuple[int, int]]:
        return [(n, pid) for k, n, pid in self.events() if k == kind]

    def transport(self) -> SQLiteTransport:
        return SQLiteTransport.from_url(f"sqlite:///{self.db}")

    def wait_until(self, predicate, *, what: str, timeout_seconds: float = DEADLINE_SECONDS) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not predicate():
            for index, process in enumerate(self.processes):
                if process.poll() not in (None, 0, 1, -9, -15):
                    raise AssertionError(f"a worker died: {process.returncode}\n{self.log_of(index)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def queue_empty(self, queue: str = "celery") -> bool:
        transport = self.transport()
        try:
            stats = transport.stats(queue)
        finally:
            transport.close()
        return stats.ready == 0 and stats.delayed == 0 and stats.in_flight == 0

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def harness(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.stop_all()


def test_sigterm_finishes_running_tasks_and_hands_back_the_rest_at_once(harness):
    # Given short tasks and a worker with a long lease
    total = 100
    for n in range(total):
        harness.send("record", n, 0.05)
    # Ten messages leased per slot: two run while eighteen wait in the worker.
    worker = harness.worker("-P", "threads", "-c", "2", "--visibility-timeout", "300", "--prefetch-multiplier", "10")
    harness.wait_until(lambda: len(harness.lines("end")) >= 4, what="four tasks to finish")
    # When it gets SIGTERM while tasks run
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    # Then every task it started has finished, and the leased ones that had not started were handed
    # back at once: nothing stays leased for the 300 s lease.
    started = Counter(n for n, _ in harness.lines("start"))
    ended = Counter(n for n, _ in harness.lines("end"))
    assert started == ended
    transport = harness.transport()
    stats = transport.stats("celery")
    transport.close()
    assert stats.in_flight == 0 and stats.ready == total - len(ended)
    handed_back = re.search(r"Handed back (\d+) leased message", harness.log_of(0))
    assert handed_back and int(handed_back.group(1)) > 0
    # ... and a new worker runs the rest.
    harness.worker("-P", "threads", "-c", "2")
    harness.wait_until(lambda: len(set(n for n, _ in harness.lines("end"))) == total, what="every task")


def test_poison_messages_are_dead_lettered_while_the_worker_keeps_going(harness):
    transport = harness.transport()
    harness.send("record", 1)
    transport.send("celery", "{not json")
    harness.app.app.send_task("recorder.no_such_task", args=[2])
    harness.send("always_fails", 3)
    harness.send("record", 4)
    harness.worker("-P", "solo")
    harness.wait_until(lambda: harness.queue_empty(), what="the queue to drain")
    records = [parse(m.body) for m in transport.peek("celery-dlq", batch_size=10)]
    transport.close()
    assert sorted(r.reason for r in records) == ["failed", "undecodable", "unknown-task"]
    failed = next(r for r in records if r.reason == "failed")
    assert failed.exc_type == "RuntimeError" and "poison 3" in failed.message and "Traceback" in failed.traceback
    assert sorted(n for n, _ in harness.lines("end")) == [1, 4]
    assert harness.processes[0].poll() is None


def test_prefork_hard_time_limit_ends_the_child_and_the_pool_replaces_it(harness):
    harness.send("overruns", 1)
    for n in range(4):
        harness.send("record", n)
    harness.worker("-P", "prefork", "-c", "1")
    harness.wait_until(lambda: harness.queue_empty(), what="the queue to drain")
    transport = harness.transport()
    [record] = [parse(m.body) for m in transport.peek("celery-dlq", batch_size=10)]
    transport.close()
    assert (record.reason, record.exc_type) == ("time-limit", "TimeLimitExceeded")
    assert sorted(n for n, _ in harness.lines("end")) == [0, 1, 2, 3]
    # The child that overran was ended and replaced: every task after it ran in another process.
    events = harness.events()
    overrun_at = next(i for i, (kind, _, _) in enumerate(events) if kind == "overrun")
    overrun_pid = events[overrun_at][2]
    assert all(pid != overrun_pid for _, _, pid in events[overrun_at + 1:])
    assert harness.processes[0].poll() is None


@pytest.mark.slow  # several seconds of real processes: CI's slow run has it
@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_second_sigterm_is_a_cold_shutdown_that_leaves_the_message_to_its_lease(harness, pool):
    harness.send("sleeps", 1, 60)
    worker = harness.worker("-P", pool, "-c", "1", "--visibility-timeout", "2")
    harness.wait_until(lambda: harness.lines("start"), what="the task to start")
    worker.send_signal(signal.SIGTERM)
    harness.wait_until(lambda: "Warm shutdown" in harness.log_of(0), what="the warm shutdown")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 1
    log = harness.log_of(0)
    # prefork: the slot thread whose child the pool ended settles nothing and dies with no traceback.
    assert "Cold shutdown" in log and "Traceback" not in log and harness.lines("end") == []
    # Not acked: once its lease ends the message is delivered again (and not dead-lettered).
    harness.wait_until(lambda: not harness.queue_empty() and _stats(harness).ready == 1, what="redelivery")
    assert _stats(harness).dead_letters == 0


def _stats(harness):
    transport = harness.transport()
    try:
        return transport.stats("celery")
    finally:
        transport.close()


def test_cold_shutdown_of_the_solo_pool_interrupts_the_running_task(harness):
    harness.send("sleeps", 1, 60)
    worker = harness.worker("-P", "solo")
    harness.wait_until(lambda: harness.lines("start"), what="the task to start")
    # Two signals sent at once can reach Python as one, so keep signalling until the worker says it is
    # stopping cold; no further signal after that (one arriving after the worker restored the default
    # handlers on its way out would end it with -SIGINT instead of its own exit code).
    deadline = time.monotonic() + 30
    while (worker.poll() is None and "Cold shutdown" not in harness.log_of(0)
           and time.monotonic() < deadline):
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(0.2)
        except subprocess.TimeoutExpired:
            pass
    assert worker.wait(30) == 1 and harness.lines("end") == []
    assert "Cold shutdown" in harness.log_of(0)


def test_prefork_soft_time_limit_raises_in_the_child_and_process_init_runs_per_child(harness):
    harness.send("soft_limited", 7)
    harness.worker("-P", "prefork", "-c", "2")
    harness.wait_until(lambda: harness.lines("soft"), what="the soft time limit")
    harness.wait_until(lambda: harness.queue_empty(), what="the ack")
    [(n, pid)] = harness.lines("soft")
    init_pids = {pid for _, pid in harness.lines("init")}
    assert n == 7 and len(init_pids) == 2 and pid in init_pids
    assert harness.processes[0].pid not in init_pids


def test_prefork_spawn_children_import_the_app_again_and_log_like_celery(harness):
    for n in range(3):
        harness.send("record", n)
    harness.worker("-P", "prefork", "-c", "1", "--start-method", "spawn")
    harness.wait_until(lambda: len(harness.lines("end")) == 3, what="three tasks")
    [(_, child)] = {(0, pid) for _, pid in harness.lines("end")}
    assert child != harness.processes[0].pid and child in {pid for _, pid in harness.lines("init")}
    harness.wait_until(lambda: "INFO/ForkPoolWorker-1] Task recorder.record[" in harness.log_of(0),
                       what="the child's log lines")


def test_max_tasks_per_child_replaces_children(harness):
    for n in range(6):
        harness.send("record", n)
    harness.worker("-P", "prefork", "-c", "1", "--max-tasks-per-child", "2")
    harness.wait_until(lambda: len(harness.lines("end")) == 6, what="six tasks")
    pids = Counter(pid for _, pid in harness.lines("end"))
    assert len(pids) == 3 and set(pids.values()) == {2}
    children = {pid for _, pid in harness.lines("init")}
    assert children >= set(pids)  # worker_process_init in each child
    # After kill -9 of the worker its children do not linger.
    harness.processes[0].kill()
    harness.wait_until(lambda: not any(_alive(pid) for pid in children), what="the children to exit",
                       timeout_seconds=30)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow
def test_kill_9_several_times_while_draining_loses_nothing(harness):
    total = 300
    for n in range(total):
        harness.send("record", n, 0.01)
    flags = ("-P", "threads", "-c", "4", "--visibility-timeout", "2")
    for _ in range(4):
        worker = harness.worker(*flags)
        seen = len(harness.lines("end"))
        harness.wait_until(lambda: len(harness.lines("end")) >= seen + 20 or harness.queue_empty(),
                           what="progress before the kill")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    harness.worker(*flags)
    harness.wait_until(lambda: harness.queue_empty(), what="the queue to drain after the kills")
    ended = {n for n, _ in harness.lines("end")}
    assert ended == set(range(total))


@pytest.mark.slow
def test_two_workers_and_concurrent_producers_run_every_message_once_within_its_lease(harness):
    per_producer = 300
    producer_code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import recorder;"
        "[recorder.record.delay(int(sys.argv[2]) + i, 0.002) for i in range(int(sys.argv[3]))]"
    )
    workers = [harness.worker("-P", "threads", "-c", "2", "--visibility-timeout", "60") for _ in range(2)]
    harness.wait_until(lambda: all("ready." in harness.log_of(i) for i in range(2)), what="both workers")
    producers = [
        subprocess.Popen([sys.executable, "-c", producer_code, str(APPS), str(k * per_producer), str(per_producer)],
                         env=harness.env)
        for k in range(2)
    ]
    for producer in producers:
        assert producer.wait(DEADLINE_SECONDS) == 0
    harness.wait_until(lambda: len(harness.lines("end")) >= 2 * per_producer and harness.queue_empty(),
                       what="every message to run")
    counts = Counter(n for n, _ in harness.lines("start"))
    # With 60 s leases and no crash, a message leased twice while its lease held would run twice.
    assert set(counts) == set(range(2 * per_producer)) and set(counts.values()) == {1}
    assert len({pid for _, pid in harness.lines("end")}) == 2  # both workers took part
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
