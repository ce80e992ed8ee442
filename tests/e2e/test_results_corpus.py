"""The results corpus case end to end: corpus/results_progress_chord runs under real Celery 5.7 (a
``celery worker`` process on a real redis-server broker, results in ``db+sqlite``) and, as
``celery2cfq rewrite`` migrates it (its ``after/`` tree, which tests/migrate/test_corpus.py checks is
the codemod's output), under a ``cfq-shim worker`` process on the embedded store with the same
``db+sqlite`` result backend. The client prints what each call answered; both runs must answer the same.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services import redis_server

pytestmark = pytest.mark.slow

CASE = Path(__file__).resolve().parents[2] / "corpus" / "results_progress_chord"


def _run(project: Path, worker: list[str], env: dict[str, str]) -> dict:
    log = open(project / "worker.log", "w")
    process = subprocess.Popen(worker, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = subprocess.run([sys.executable, "-m", "proj.client"], cwd=project, env=env,
                                capture_output=True, text=True, timeout=180)
        assert client.returncode == 0, client.stderr[-3000:] + (project / "worker.log").read_text()[-3000:]
        return json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_results_corpus_case_answers_the_same_under_celery_and_migrated_on_the_shim(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    shutil.copytree(CASE / "before", before)
    shutil.copytree(CASE / "after", after)
    base_env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "CFQ_SHIM_"))}
    with redis_server(tmp_path / "redis") as redis_url:
        celery_answers = _run(
            before,
            [sys.executable, "-m", "celery", "-A", "proj", "worker", "-P", "solo", "-l", "warning",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            {**base_env, "PYTHONPATH": str(before), "CELERY_BROKER_URL": redis_url,
             "RESULTS_URL": f"db+sqlite:///{before / 'results.sqlite3'}"},
        )
    shim_answers = _run(
        after,
        [sys.executable, "-m", "cfq_shim", "-A", "proj", "worker", "-P", "prefork", "-c", "2", "-l", "warning"],
        {**base_env, "PYTHONPATH": str(after), "CELERY_BROKER_URL": f"sqlite:///{after / 'queues.sqlite3'}",
         "RESULTS_URL": f"db+sqlite:///{after / 'results.sqlite3'}"},
    )
    assert shim_answers == celery_answers
    assert celery_answers["chord"] == sum(n * n for n in range(8)) and celery_answers["starmap"] == [4, 9]
    assert celery_answers["unknown"] == {"state": "PENDING", "info": None, "ready": False}
    assert celery_answers["raised"] == ["KeyError", ["missing"]]
