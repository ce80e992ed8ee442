"""The transactional outbox's promise with real processes, on SQLite and on PostgreSQL: a writer commits
transactions of tasks (each with an Order row) while ``kill -9`` hits it mid-transaction and its
in-process forwarder thread mid-push, then hits ``cfq-shim forward`` processes mid-push; a real worker
runs what arrives. Exactly the tasks of the
transactions the database committed run, each once: none of a killed transaction, none lost, none twice
(a batch pushed again after its forwarder died is skipped by the worker's task-id dedupe)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from django_outbox_project import DEADLINE_SECONDS, Project, wait_for
from test_django_outbox import databases, postgres_url  # noqa: F401 - fixtures

BATCHES = 400
SIZE = 20


@pytest.mark.slow
def test_kill_9_of_the_writer_and_of_forwarders_mid_push_runs_exactly_the_committed_tasks_once(
        tmp_path: Path, databases: dict[str, Any]) -> None:  # noqa: F811 - the fixture
    project = Project(tmp_path / "project", databases)
    project.migrate()
    logs = tmp_path / "logs"
    logs.mkdir()
    chance = random.Random(20261204)
    kills: Counter = Counter()
    deadline = time.monotonic() + 4 * DEADLINE_SECONDS

    # Given a writer killed at random points, mid-transaction or between two, its forwarder thread with it
    # (mid-push or idle) ...
    def writer(batches: int, forwarder_mode: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "scenario.py", f"writer:{batches}:{SIZE}"], cwd=project.root,
                                env={**project.env, "OUTBOX_FORWARDER": forwarder_mode},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    for _ in range(10):
        if kills["writer"] >= 5:
            break
        # Each run has 30 transactions to do; it is killed once it committed one of them, a moment later.
        before = project.count_rows("shop_order")
        process = writer(before + 30, "thread")
        wait_for(lambda: project.count_rows("shop_order") > before or process.poll() is not None,
                 what="the writer to commit")
        time.sleep(chance.uniform(0.0, 0.05))
        if process.poll() is None:
            process.kill()
            kills["writer"] += 1
        process.wait(DEADLINE_SECONDS)
    # ... then, unkilled and leaving the forwarding to the command, the rest (a backlog of at least
    # BATCHES - 150 transactions)
    assert writer(BATCHES, "external").wait(4 * DEADLINE_SECONDS) == 0
    committed = project.committed_batches()
    expected = {f"b{batch}-{n}" for batch in committed for n in range(SIZE)}
    assert len(committed) == BATCHES and kills["writer"] >= 3, kills

    # ... and forwarders killed while they push: each once the queue has grown under it, a moment later
    forwarder = None
    try:
        while project.outbox_rows() and kills["forwarder"] < 12:
            assert time.monotonic() < deadline, "the forwarders did not drain the outbox in time"
            before = project.queued()
            forwarder = project.popen("forward", "-l", "warning", log=logs / f"forward-{time.monotonic_ns()}.log")
            wait_for(lambda: project.queued() > before or not project.outbox_rows(), what="a push")
            time.sleep(chance.uniform(0.0, 0.08))
            forwarder.kill()
            forwarder.wait(10)
            kills["forwarder"] += 1
        assert kills["forwarder"] >= 3, kills
        forwarder = project.popen("forward", "-l", "warning", log=logs / "forward-last.log")
        wait_for(lambda: not project.outbox_rows(), what="the last forwarder to drain the outbox")
        pushed = project.queued()
        assert pushed >= len(expected)

        # When a real worker runs what arrived
        project.run_worker_until(lambda: set(project.ran_labels()) >= expected and project.queued() == 0,
                                 log=logs / "worker.log", loglevel="info")
    finally:
        if forwarder is not None and forwarder.poll() is None:
            forwarder.kill()
            forwarder.wait(10)
    # Then exactly the committed tasks ran (nothing of a killed transaction, nothing lost), none twice
    runs = Counter(project.ran_labels())
    assert set(runs) == expected
    assert [label for label, count in runs.items() if count > 1] == []
    worker_log = (logs / "worker.log").read_text()
    skipped = worker_log.count("is a duplicate of one completed lately") + worker_log.count("ran already")
    assert skipped == pushed - len(expected)  # every copy pushed twice was acked without running
    print(f"kills: {dict(kills)}; messages pushed: {pushed} for {len(expected)} tasks; duplicates skipped: {skipped}")
