"""``cfq-shim -A proj dlq list|show|replay|purge`` on the embedded store, with dead letters written by a
real worker (tasks that raise), then repaired from the command line."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from click.testing import CliRunner

from cfq_shim.cli import main
from cfq_shim.deadletter import parse
from cfq_shim.deadletters.access import DeadLetterQueue
from cfq_shim.worker import Worker


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose ``divide`` fails on 0 until ``FIXED`` is set, and whose ``ok`` always works."""
    module = f"dlqproj_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(f"""
        from cfq_shim import Celery
        app = Celery("proj", broker="sqlite:///{tmp_path}/q.sqlite3", cfq_queue_max_retries=0)
        FIXED = False
        RAN = []

        @app.task(queue="math")
        def divide(x, y):
            if FIXED and y == 0:
                y = 1
            RAN.append((x, y))
            return x / y

        @app.task(queue="math", autoretry_for=(ValueError,), max_retries=2, default_retry_delay=0)
        def flaky(n):
            RAN.append(n)
            if not FIXED:
                raise ValueError(n)
            return n

        @app.task
        def ok(n):
            RAN.append(n)
            return n
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    mod = __import__(module)
    yield module, mod
    mod.app.close()
    sys.modules.pop(module, None)


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def work(mod):
    """Run a worker until the app's queues are drained."""
    worker = Worker(mod.app, pool="threads", concurrency=2, max_idle_backoff_seconds=0.02).start()
    try:
        worker.drain(20)
    finally:
        worker.stop()


def fail_three(mod):
    ids = [mod.divide.delay(n, 0).id for n in range(3)]
    mod.ok.delay(7)
    work(mod)
    return ids


def dlq_depth(mod, queue="math"):
    return DeadLetterQueue(mod.app.transport, queue).depth()


def test_list_shows_task_args_exception_attempts_and_time(project):
    module, mod = project
    ids = fail_three(mod)
    result = run("-A", module, "dlq", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["time", "queue", "task", "task"]
    body = lines[1:]
    assert len(body) == 3
    for line in body:
        assert f"{module}.divide" in line and "ZeroDivisionError: division by zero" in line
        assert line.split()[-1] == "1"  # attempts: max_retries=0, one delivery
    assert {line.split()[4] for line in body} == set(ids)
    assert "(0, 0)" in body[0] or "(1, 0)" in body[0] or "(2, 0)" in body[0]
    # Listing leased and handed back: every dead letter is still there and visible.
    stats = mod.app.transport.stats("math-dlq")
    assert (stats.ready, stats.in_flight) == (3, 0)


def test_list_json_and_filters(project):
    module, mod = project
    ids = fail_three(mod)
    data = json.loads(run("-A", module, "dlq", "list", "--json").output)
    assert data["total"] == 3 and {d["task_id"] for d in data["dead_letters"]} == set(ids)
    assert all(d["reason"] == "failed" and d["exc_type"] == "ZeroDivisionError" for d in data["dead_letters"])
    assert json.loads(run("-A", module, "dlq", "list", "--json", "--task", "nope").output)["total"] == 0
    assert json.loads(run("-A", module, "dlq", "list", "--json", "--reason", "unknown-task").output)["total"] == 0
    assert json.loads(run("-A", module, "dlq", "list", "--json", "--since", "1h").output)["total"] == 3
    assert json.loads(run("-A", module, "dlq", "list", "--json", "--since", "2999-01-01").output)["total"] == 0
    limited = json.loads(run("-A", module, "dlq", "list", "--json", "--limit", "2").output)
    assert limited["total"] == 3 and len(limited["dead_letters"]) == 2
    only_celery = run("-A", module, "dlq", "list", "-Q", "celery")
    assert only_celery.exit_code == 0 and "No dead letters in celery-dlq." in only_celery.output
    bad = run("-A", module, "dlq", "list", "--since", "yesterday")
    assert bad.exit_code == 2 and "neither a duration" in bad.output


def test_show_prints_the_original_envelope_and_the_traceback(project):
    module, mod = project
    ids = fail_three(mod)
    result = run("-A", module, "dlq", "show", ids[1])
    assert result.exit_code == 0, result.output
    assert f"task_id:           {ids[1]}" in result.output
    assert '"args": [\n    1,\n    0\n  ]' in result.output.replace("\n  ", "\n")
    assert "Traceback (most recent call last)" in result.output and "ZeroDivisionError" in result.output
    as_json = json.loads(run("-A", module, "dlq", "show", ids[1], "--json").output)
    assert as_json["original"]["id"] == ids[1] and as_json["original"]["args"] == [1, 0]
    missing = run("-A", module, "dlq", "show", "no-such-id")
    assert missing.exit_code == 1 and "no dead letter with task id or message id 'no-such-id'" in missing.output


def test_replay_by_id_sends_the_original_task_id_back_and_removes_only_that_one(project):
    module, mod = project
    ids = fail_three(mod)
    mod.FIXED = True
    mod.RAN.clear()
    result = run("-A", module, "dlq", "replay", "--id", ids[0])
    assert result.exit_code == 0, result.output
    assert f"Replayed {module}.divide[{ids[0]}] -> math" in result.output
    assert dlq_depth(mod) == 2
    peeked = mod.app.transport.peek("math", batch_size=10)
    assert [json.loads(m.body)["id"] for m in peeked] == [ids[0]]
    work(mod)
    assert mod.RAN == [(0, 1)]


def test_replay_all_with_reset_retries_and_dry_run(project):
    module, mod = project
    ids = [mod.flaky.delay(n).id for n in range(3)]
    work(mod)
    assert len(mod.RAN) == 9  # each ran three times (two retries), then was dead-lettered
    dry = run("-A", module, "dlq", "replay", "--all", "--dry-run")
    assert dry.exit_code == 0 and dry.output.count("-> math") == 3
    assert dlq_depth(mod) == 3 and mod.app.transport.stats("math").ready == 0
    worn = json.loads(json.loads(mod.app.transport.peek("math-dlq", batch_size=1)[0].body)["original_body"])
    assert worn["retries"] == 2
    result = run("-A", module, "dlq", "replay", "--task", f"{module}.flaky", "--reset-retries")
    assert result.exit_code == 0 and "Replayed 3 dead letter(s)" in result.output
    assert dlq_depth(mod) == 0
    bodies = [json.loads(m.body) for m in mod.app.transport.peek("math", batch_size=10)]
    assert sorted(b["id"] for b in bodies) == sorted(ids) and {b["retries"] for b in bodies} == {0}
    mod.FIXED = True
    work(mod)
    assert dlq_depth(mod) == 0
    again = run("-A", module, "dlq", "replay", "--all")
    assert again.exit_code == 0 and "No dead letters in celery-dlq, math-dlq match." in again.output


def test_replay_needs_a_selection(project):
    module, _ = project
    result = run("-A", module, "dlq", "replay")
    assert result.exit_code == 2 and "--task NAME, --id ID or --all" in result.output


def test_purge_asks_first_and_force_skips_the_question(project):
    module, mod = project
    fail_three(mod)
    declined = run("-A", module, "dlq", "purge", input="n\n")
    assert declined.exit_code == 1 and "Delete 3 dead letter(s) for good: math-dlq (3)?" in declined.output
    assert dlq_depth(mod) == 3
    result = run("-A", module, "dlq", "purge", "-f")
    assert result.exit_code == 0 and "Deleted 3 dead letter(s) from 1 queue(s)." in result.output
    assert dlq_depth(mod) == 0
    empty = run("-A", module, "dlq", "purge", "-f")
    assert "No dead letters in celery-dlq, math-dlq." in empty.output


def test_purge_by_id_deletes_only_that_dead_letter(project):
    module, mod = project
    ids = fail_three(mod)
    result = run("-A", module, "dlq", "purge", "--id", ids[2], input="y\n")
    assert result.exit_code == 0 and "Deleted 1 dead letter(s)." in result.output
    left = {parse(m.body).task_id for m in mod.app.transport.peek("math-dlq", batch_size=10)}
    assert left == set(ids[:2])


def test_a_missing_dead_letter_queue_is_said_plainly(project):
    module, _ = project
    result = run("-A", module, "dlq", "list", "-Q", "never-used")
    assert result.exit_code == 1
    assert "Queue 'never-used-dlq' does not exist: nothing was dead-lettered from 'never-used' yet." in result.output


def test_listing_many_times_never_wears_a_dead_letter_out(project):
    """Each listing counts a delivery of the dead-letter queue; a worn message is handed back as a copy."""
    module, mod = project
    ids = fail_three(mod)
    for _ in range(8):  # the dead-letter queue allows 1 delivery (max_retries=0 in this app)
        data = json.loads(run("-A", module, "dlq", "list", "--json").output)
        assert sorted(d["task_id"] for d in data["dead_letters"]) == sorted(ids)
    assert dlq_depth(mod) == 3
