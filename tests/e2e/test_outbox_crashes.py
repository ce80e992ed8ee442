"""The outbox's promise with real processes: ``kill -9`` of producers (and the forwarder threads in them)
and of a ``cfq-shim forward`` process at random points while 10,000 ``.delay()`` calls run. Every call
that returned has its task run, and no task runs twice (duplicate pushes are skipped by the worker's
task-id dedupe: one worker process, ``-P solo``, runs everything)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cfq_shim.transport.sqlite import SQLiteTransport

TOTAL = 10_000
DEADLINE_SECONDS = 300
MIN_CALLS_PER_RUN = 50  # a producer is killed only after this many calls of its own

APP = """
import os
from cfq_shim import Celery

app = Celery("crashapp", broker=os.environ["CRASH_BROKER"])
app.conf.cfq_producer = "outbox"
app.conf.cfq_outbox_path = os.environ["CRASH_OUTBOX"]


def _append(path, line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@app.task(ignore_result=True)
def run(n):
    _append(os.environ["CRASH_RAN"], f"{n}\\n")
"""

PRODUCER = """
import os, sys
sys.path.insert(0, os.getcwd())
from crashapp import app, run, _append
acked = os.environ["CRASH_ACKED"]
done = [int(line) for line in open(acked).read().split()] if os.path.exists(acked) else []
for n in range(max(done, default=-1) + 1, int(sys.argv[1])):
    run.apply_async((n,), task_id=f"task-{n}")  # the same id if a restart sends n again
    _append(acked, f"{n}\\n")  # .delay() returned: the call is acknowledged
"""


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as file:
            return file.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _numbers(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
def test_kill_9_of_producers_and_forwarders_loses_no_acknowledged_task_and_runs_none_twice(tmp_path):
    (tmp_path / "crashapp.py").write_text(APP)
    ran, acked = tmp_path / "ran.txt", tmp_path / "acked.txt"
    env = {**os.environ, "CRASH_BROKER": f"sqlite:///{tmp_path / 'queues.sqlite3'}",
           "CRASH_OUTBOX": str(tmp_path / "outbox.sqlite3"), "CRASH_RAN": str(ran), "CRASH_ACKED": str(acked),
           "PYTHONPATH": str(tmp_path)}
    cli = [sys.executable, "-m", "cfq_shim", "-A", "crashapp"]
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, command: list[str]) -> subprocess.Popen:
        log = open(logs / f"{name}-{time.monotonic_ns()}.log", "w")
        try:
            return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    worker = start("worker", [*cli, "worker", "-P", "solo", "-l", "warning"])
    forwarder = start("forward", [*cli, "forward", "-l", "warning"])
    chance = random.Random(20261204)
    kills = Counter()
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        # Given producers killed at random points until one finishes all the calls. The point is drawn in
        # calls acknowledged, not in seconds: a timer raced the producer's speed and, on a fast machine, the
        # producer finished before enough kills had happened.
        while True:
            assert time.monotonic() < deadline, "the producers did not finish in time"
            done = len(_numbers(acked))
            producer = start("producer", [sys.executable, "-c", PRODUCER, str(TOTAL)])
            if kills["producer"] < 10 and TOTAL - done > 4 * MIN_CALLS_PER_RUN:
                target = done + chance.randint(MIN_CALLS_PER_RUN, (TOTAL - done) // 4)
                while producer.poll() is None and _count_lines(acked) < target:
                    assert time.monotonic() < deadline, "the producer made no progress"
                    time.sleep(0.002)
                assert producer.poll() is None, "the producer ended before its kill point"
                producer.kill()
                assert producer.wait(10) == -signal.SIGKILL
                kills["producer"] += 1
                if kills["producer"] % 2 or chance.random() < 0.3:  # ... and the forwarder too, mid-push or idle
                    forwarder.kill()
                    forwarder.wait(10)
                    kills["forwarder"] += 1
                    forwarder = start("forward", [*cli, "forward", "-l", "warning"])
                continue
            assert producer.wait(DEADLINE_SECONDS) == 0, "the last producer failed: see its log"
            break
        assert kills["producer"] >= 5 and kills["forwarder"] >= 2
        # When the forwarders and the worker have drained everything
        transport = SQLiteTransport(str(tmp_path / "queues.sqlite3"))
        try:
            def settled() -> bool:
                stats = transport.stats("celery")
                return (stats.ready == stats.delayed == stats.in_flight == 0
                        and len(set(_numbers(ran))) >= len(set(_numbers(acked))))

            while not settled():
                assert time.monotonic() < deadline, "the queue was not drained in time"
                assert worker.poll() is None, "the worker died"
                time.sleep(0.2)
            time.sleep(1.0)  # a late duplicate would show up now
            assert settled()
        finally:
            transport.close()
        # Then every acknowledged call ran, and no task ran twice
        runs = Counter(_numbers(ran))
        calls = set(_numbers(acked))
        assert len(calls) == TOTAL and calls <= set(runs)
        assert [n for n, count in runs.items() if count > 1] == []
    finally:
        for process in (worker, forwarder):
            if process.poll() is None:
                process.kill()
            process.wait(10)
