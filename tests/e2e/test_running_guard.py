"""The running guard, with real worker processes: a task that runs longer than its lease runs once.

Two ``cfq-shim worker`` processes share an embedded store (one machine: the guard reads the heartbeats in
``control.sqlite3`` beside it). Each task sleeps well past the 1 s lease, so every message is delivered
again while its task still runs, to the other worker or the same one. Without the guard each of them ran
a second time, in parallel; with it, each starts once, the copies are held back while it runs and acked
once it is done, and nothing is left in the queue or dead-lettered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DEADLINE_SECONDS = 120.0  # a safety net: the wait ends as soon as the work is done
TASK_SECONDS = 4  # four leases long
PROJECT = """
    import os
    import time

    from cfq_shim import Celery

    app = Celery("longjobs", broker=os.environ["TEST_BROKER_URL"])
    app.conf.cfq_worker_heartbeat_seconds = 0.2


    @app.task
    def long_job(key):
        with open(os.environ["TEST_RUNS_FILE"], "a") as out:
            out.write(f"start {key}\\n")
        time.sleep(float(os.environ["TEST_TASK_SECONDS"]))
        with open(os.environ["TEST_RUNS_FILE"], "a") as out:
            out.write(f"end {key}\\n")
"""


@pytest.mark.slow  # several seconds of real processes: CI's slow run has it
def test_a_task_longer_than_its_lease_runs_once(tmp_path: Path):
    (tmp_path / "longjobs.py").write_text(textwrap.dedent(PROJECT))
    runs = tmp_path / "runs.txt"
    env = {key: value for key, value in os.environ.items()
           if key not in ("CELERY_BROKER_URL", "CFQ_SHIM_BROKER_URL", "DJANGO_SETTINGS_MODULE", "CELERY_RESULT_BACKEND")}
    env.update(PYTHONPATH=str(tmp_path), TEST_BROKER_URL=f"sqlite:///{tmp_path / 'queues.sqlite3'}",
               TEST_RUNS_FILE=str(runs), TEST_TASK_SECONDS=str(TASK_SECONDS), PYTHONUNBUFFERED="1")
    cfq_shim = [sys.executable, "-m", "cfq_shim", "-A", "longjobs"]
    # Given three long tasks
    sent = subprocess.run([sys.executable, "-c", "from longjobs import long_job\nfor key in 'abc':\n    long_job.delay(key)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr

    def lines() -> list[str]:
        return runs.read_text().splitlines() if runs.exists() else []

    def queue_is_empty() -> bool:
        result = subprocess.run([*cfq_shim, "inspect", "--json"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        [row] = json.loads(result.stdout)["queues"]
        return (row["ready"], row["delayed"], row["in_flight"], row["dead_letters"]) == (0, 0, 0, 0)

    # When two workers with a 1 s lease run them
    logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
    workers = []
    for n, log in enumerate(logs, 1):
        with log.open("w") as out:
            workers.append(subprocess.Popen(
                [*cfq_shim, "worker", "-P", "threads", "-c", "1", "--visibility-timeout", "1", "-n", f"w{n}@guard",
                 "-l", "info"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not (sum(line.startswith("end") for line in lines()) >= 3 and queue_is_empty()):
            for worker, log in zip(workers, logs):
                assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "\n".join([*lines(), *(log.read_text() for log in logs)])
            time.sleep(0.2)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker, log in zip(workers, logs):
            assert worker.wait(60) == 0, log.read_text()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    # Then each task started once, and the copies were held back or acked as done
    log_text = "".join(log.read_text() for log in logs)
    assert sorted(line for line in lines() if line.startswith("start")) == ["start a", "start b", "start c"], log_text
    assert "is still running on a live worker" in log_text
    # (a copy that reaches the worker that ran it is acked by its own memory of completed tasks instead)
    assert "ran already (past its lease)" in log_text or "duplicate of one completed lately" in log_text
