"""Remote control against real worker processes (``cfq-shim worker``) on the embedded store:
a revoked ETA task never runs, ``terminate=True`` ends a running prefork task, ``inspect().active()``
lists a running task with its args, and a killed worker leaves ``ping()`` within the staleness bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from cfq_shim.control.heartbeat import all_workers, stale_after_seconds
from cfq_shim.control.store import control_store
from cfq_shim.transport.sqlite import SQLiteTransport

DEADLINE_SECONDS = 60  # safety net only
HEARTBEAT_SECONDS = 0.3

APP_SOURCE = '''
import os
import time

from cfq_shim import Celery

app = Celery("ctlproc", broker=os.environ["CTL_BROKER"], cfq_worker_heartbeat_seconds={heartbeat})


def _record(*fields):
    fd = os.open(os.environ["CTL_RECORDS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (" ".join(str(f) for f in fields) + "\\n").encode())
    finally:
        os.close(fd)


@app.task
def record(n, sleep_seconds=0.0):
    _record("start", n, os.getpid())
    time.sleep(sleep_seconds)
    _record("end", n, os.getpid())
'''


class Project:
    def __init__(self, tmp_path, module: str) -> None:
        self.module = module
        self.records = tmp_path / "records.txt"
        self.records.touch()
        self.db = tmp_path / "queues.sqlite3"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(APP_SOURCE.format(heartbeat=HEARTBEAT_SECONDS)))
        self.env = {**os.environ, "CTL_BROKER": f"sqlite:///{self.db}", "CTL_RECORDS": str(self.records),
                    "PYTHONPATH": str(tmp_path), "PYTHONUNBUFFERED": "1"}
        self.cwd = tmp_path
        self.processes: list[subprocess.Popen] = []
        os.environ["CTL_BROKER"], os.environ["CTL_RECORDS"] = self.env["CTL_BROKER"], str(self.records)
        sys.path.insert(0, str(tmp_path))
        self.mod = __import__(module)

    @property
    def app(self):
        return self.mod.app

    def worker(self, *flags: str) -> subprocess.Popen:
        log = open(self.cwd / f"worker-{len(self.processes)}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", self.module, "worker", "-l", "info",
                                    "-n", f"w{len(self.processes)}@%h", *flags],
                                   cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def lines(self, kind: str) -> list[tuple[str, str]]:
        return [tuple(line.split()[1:]) for line in self.records.read_text().splitlines() if line.startswith(kind)]

    def wait_until(self, predicate, what: str):
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            value = predicate()
            if value:
                return value
            for index, process in enumerate(self.processes):
                assert process.poll() in (None, 0, -9), (self.cwd / f"worker-{index}.log").read_text()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def queue_idle(self) -> bool:
        transport = SQLiteTransport.from_url(f"sqlite:///{self.db}")
        try:
            stats = transport.stats("celery")
        finally:
            transport.close()
        return stats.ready == stats.delayed == stats.in_flight == 0

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        self.app.close()
        sys.path.remove(str(self.cwd))
        sys.modules.pop(self.module, None)


@pytest.fixture
def project(tmp_path):
    project = Project(tmp_path, f"ctlproc_{uuid.uuid4().hex[:8]}")
    yield project
    project.close()


def _live_names(project) -> list[str]:
    return [name for reply in project.app.control.ping() for name in reply]


@pytest.mark.slow
def test_a_revoked_eta_task_never_runs(project):
    worker = project.worker("-P", "threads", "-c", "2")
    project.wait_until(lambda: _live_names(project), "the worker's first heartbeat")
    revoked = project.mod.record.apply_async((1,), countdown=2)
    kept = project.mod.record.apply_async((2,), countdown=2)
    project.app.control.revoke(revoked.id)
    project.wait_until(lambda: project.lines("end"), "the kept task ran")
    project.wait_until(project.queue_idle, "the queue is drained")
    assert [n for n, _ in project.lines("start")] == ["2"]
    assert worker.poll() is None and kept.id != revoked.id


@pytest.mark.slow
def test_terminate_ends_a_running_prefork_task_and_the_pool_goes_on(project):
    worker = project.worker("-P", "prefork", "-c", "1")
    result = project.mod.record.delay(1, 120)
    project.wait_until(lambda: project.lines("start"), "the long task started")
    ((_, child_pid),) = project.lines("start")
    active = project.wait_until(lambda: [r for v in (project.app.control.inspect().active() or {}).values() for r in v],
                                "the task is listed as active")
    assert active[0]["id"] == result.id and active[0]["args"] == [1, 120] and str(active[0]["worker_pid"]) == child_pid
    project.app.control.revoke(result.id, terminate=True)
    project.wait_until(project.queue_idle, "the terminated task's message is acked")
    assert project.lines("end") == []  # it never finished
    project.mod.record.delay(2)
    project.wait_until(lambda: project.lines("end"), "a new child ran the next task")
    ((_, new_pid),) = project.lines("end")
    assert new_pid != child_pid
    transport = SQLiteTransport.from_url(f"sqlite:///{project.db}")
    try:
        assert transport.stats("celery").dead_letters == 0  # revoked, not failed
    finally:
        transport.close()
    assert worker.poll() is None


@pytest.mark.slow
def test_a_killed_worker_leaves_ping_within_the_bound(project):
    doomed = project.worker("-P", "threads", "-c", "1")
    survivor = project.worker("-P", "threads", "-c", "1")
    names = project.wait_until(lambda: len(_live_names(project)) == 2 and _live_names(project), "two workers")
    assert all(name.startswith(("w0@", "w1@")) for name in names)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    project.wait_until(lambda: len(_live_names(project)) == 1, "the killed worker left ping()")
    assert _live_names(project)[0].startswith("w1@")
    # It left because its heartbeat went stale (a killed worker cannot remove it).
    (gone,) = [info for name, info in all_workers(control_store(project.app)).items() if name.startswith("w0@")]
    assert gone["alive"] is False and gone["stale_after"] == stale_after_seconds(HEARTBEAT_SECONDS)
    assert survivor.poll() is None
