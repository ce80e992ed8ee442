"""Results across real processes: a worker process (``python -m cfq_shim -A resultsproj worker``) stores,
this process and others read, on SQLite files shared by all of them (broker and result backend).

- ``get()`` from another process, and a third process reading the same result;
- ``update_state`` progress seen by a poller;
- a chord completing exactly once while its worker is killed (SIGKILL) mid-header, after a header task
  has finished but before its message was acked, and restarted;
- a group of 1,000 tasks collected;
- a chain of chains.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = '''
import os, time
from pathlib import Path
from cfq_shim import Celery, chain, chord, group, signals

app = Celery("resultsproj", broker=os.environ["CFQ_SHIM_BROKER_URL"], backend=os.environ["RESULTS_URL"])
app.conf.broker_visibility_timeout = 3  # a killed worker's messages come back within seconds
WORK = Path(os.environ["WORK_DIR"])

@app.task
def add(x, y):
    return x + y

@app.task
def mul(x, y):
    return x * y

@app.task
def xsum(values):
    return sum(values)

@app.task
def header(n):
    with open(WORK / "header-runs.txt", "a") as runs:
        runs.write(f"{n}\\n")
    time.sleep(0.05)
    return n

@app.task
def body(values):
    with open(WORK / "body-runs.txt", "a") as runs:
        runs.write(f"{sum(values)}\\n")
    return sum(values)

@app.task(bind=True)
def progress(self, steps):
    for step in range(1, steps + 1):
        self.update_state(state="PROGRESS", meta={"current": step, "total": steps})
        gate = WORK / f"gate-{step}"
        while not gate.exists():
            time.sleep(0.01)
    return "done"

@signals.task_postrun.connect
def kill_after_a_header(sender=None, task_id=None, task=None, args=None, **kwargs):
    """Kill this whole worker (SIGKILL) once, right after header number KILL_AFTER finished: its result
    is stored and counted, its message not yet acked."""
    trigger = WORK / "kill-after"
    if task is not header or not trigger.exists():
        return
    if args[0] == int(trigger.read_text()):
        trigger.unlink()
        os.kill(os.getpid(), 9)
'''


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "resultsproj.py").write_text(textwrap.dedent(PROJECT))
        self.env = {
            **os.environ,
            "CFQ_SHIM_BROKER_URL": f"sqlite:///{root / 'queues.sqlite3'}",
            "RESULTS_URL": f"sqlite:///{root / 'results.sqlite3'}",
            "WORK_DIR": str(root),
            "PYTHONPATH": str(root),
            "PYTHONUNBUFFERED": "1",
        }
        self.workers: list[subprocess.Popen] = []
        self._module = None

    @property
    def tasks(self):
        """The project module, imported here (this process is the 'web' process that sends and reads)."""
        if self._module is None:
            for key in ("CFQ_SHIM_BROKER_URL", "RESULTS_URL", "WORK_DIR"):
                os.environ[key] = self.env[key]
            sys.path.insert(0, str(self.root))
            try:
                sys.modules.pop("resultsproj", None)
                import resultsproj
            finally:
                sys.path.remove(str(self.root))
            self._module = resultsproj
        return self._module

    def worker(self, *flags: str) -> subprocess.Popen:
        log = open(self.root / f"worker-{len(self.workers)}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "cfq_shim", "-A", "resultsproj", "worker", "-l", "info", *flags],
            cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append(process)
        return process

    def logs(self) -> str:
        return "\n".join((self.root / f"worker-{i}.log").read_text() for i in range(len(self.workers)))

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._module is not None:
            self._module.app.close()
            sys.modules.pop("resultsproj", None)


@pytest.fixture
def project(tmp_path):
    project = Project(tmp_path)
    yield project
    project.stop()


def wait_for(predicate, what: str, project: Project, timeout_seconds: float = 120) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{project.logs()[-3000:]}")
        time.sleep(0.02)


def test_get_from_another_process(project):
    project.worker("-P", "prefork", "-c", "2")
    result = project.tasks.add.delay(20, 22)
    assert result.get(timeout=60) == 42
    reader = subprocess.run(
        [sys.executable, "-c", "import sys, resultsproj; r = resultsproj.app.AsyncResult(sys.argv[1]);"
         "print(r.state, r.get(timeout=30), r.date_done is not None)", result.id],
        cwd=project.root, env=project.env, capture_output=True, text=True, timeout=60,
    )
    assert reader.stdout.split() == ["SUCCESS", "42", "True"], reader.stderr


def test_update_state_progress_seen_by_a_poller(project):
    project.worker("-P", "prefork", "-c", "2")
    result = project.tasks.progress.delay(3)
    seen = []
    for step in range(1, 4):
        wait_for(lambda: result.state == "PROGRESS" and result.info["current"] == step, f"PROGRESS {step}", project)
        seen.append((result.state, dict(result.info)))
        (project.root / f"gate-{step}").touch()
    assert result.get(timeout=60) == "done" and result.state == "SUCCESS"
    assert seen == [("PROGRESS", {"current": n, "total": 3}) for n in (1, 2, 3)]


@pytest.mark.parametrize("kill_after", [7, 20], ids=["mid-header", "after-the-last-header"])
def test_chord_completes_exactly_once_when_its_worker_is_killed(project, kill_after):
    # Given a chord of 20 header tasks, and a worker that SIGKILLs itself right after header
    # ``kill_after`` finished (result stored and counted, message not acked)
    (project.root / "kill-after").write_text(str(kill_after))
    tasks = project.tasks
    first = project.worker("-P", "threads", "-c", "4")
    result = tasks.chord([tasks.header.s(n) for n in range(1, 21)])(tasks.body.s())
    # When the worker dies and another starts
    first.wait(120)
    assert first.returncode == -signal.SIGKILL
    project.worker("-P", "threads", "-c", "4")
    # Then the body runs exactly once, with every header's result, though some header ran twice
    assert result.get(timeout=120) == sum(range(1, 21))
    time.sleep(4)  # longer than the lease: a duplicate body would have been delivered by now
    assert (project.root / "body-runs.txt").read_text().split() == ["210"]
    header_runs = [int(n) for n in (project.root / "header-runs.txt").read_text().split()]
    assert sorted(set(header_runs)) == list(range(1, 21)) and len(header_runs) > 20


def test_a_group_of_a_thousand_tasks_is_collected(project):
    project.worker("-P", "prefork", "-c", "2")
    tasks = project.tasks
    result = tasks.group(tasks.add.s(i, i) for i in range(1000))()
    assert result.get(timeout=180) == [2 * i for i in range(1000)]
    assert result.completed_count() == 1000


def test_a_chain_of_chains(project):
    project.worker("-P", "prefork", "-c", "2")
    tasks = project.tasks
    inner_one = tasks.chain(tasks.add.s(1, 2), tasks.mul.s(10))
    inner_two = tasks.chain(tasks.add.s(5), tasks.mul.s(2))
    result = tasks.chain(inner_one, inner_two)()
    assert result.get(timeout=60) == ((1 + 2) * 10 + 5) * 2
    assert result.parent.get(timeout=60) == 35 and result.parent.parent.parent.get(timeout=60) == 3
