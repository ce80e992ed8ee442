"""``cfq-shim -A proj inspect`` (read-only) and ``cfq-shim -A proj purge`` (confirmed)."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from click.testing import CliRunner

from cfq_shim.cli import main
from cfq_shim.transport.base import QueueSettings
from cfq_shim.transport.sqlite import SQLiteTransport


@pytest.fixture
def project(tmp_path, monkeypatch):
    module = f"adminproj_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(f"""
        from cfq_shim import Celery
        app = Celery("proj", broker="sqlite:///{tmp_path}/q.sqlite3")

        @app.task(queue="emails")
        def send_email(to):
            return to

        @app.task
        def add(x, y):
            return x + y
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield module, SQLiteTransport.from_url(f"sqlite:///{tmp_path}/q.sqlite3")
    sys.modules.pop(module, None)


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def fill(transport):
    for queue in ("celery", "emails"):
        transport.declare_queue(f"{queue}-dlq")
        transport.declare_queue(queue, QueueSettings(dead_letter_queue=f"{queue}-dlq"))
    for n in range(3):
        transport.send("celery", f"m{n}")
    transport.send("celery", "later", delay_seconds=600)
    transport.send("emails", "e")
    transport.pull("emails", batch_size=1, visibility_timeout_ms=60_000)
    transport.send("celery-dlq", json.dumps({"kind": "cfq_shim.dead_letter", "v": 1, "reason": "failed",
                                             "task": "proj.add", "task_id": "t1", "exc_type": "ValueError",
                                             "message": "bad"}))


def test_inspect_shows_ready_delayed_in_flight_and_dead_letters_per_queue(project):
    module, transport = project
    fill(transport)
    result = run("-A", module, "inspect", "--json", "--dead-letters", "5")
    assert result.exit_code == 0, result.output
    rows = {row["queue"]: row for row in json.loads(result.output)["queues"]}
    assert (rows["celery"]["ready"], rows["celery"]["delayed"], rows["celery"]["dead_letters"]) == (3, 1, 1)
    assert (rows["emails"]["ready"], rows["emails"]["in_flight"]) == (0, 1)
    assert rows["celery"]["dead_letter_samples"][0]["reason"] == "failed"
    # Read-only: nothing was leased or removed by looking.
    stats = transport.stats("celery")
    assert (stats.ready, stats.in_flight) == (3, 0) and transport.stats("celery-dlq").ready == 1


def test_inspect_table_and_a_queue_that_does_not_exist_yet(project):
    module, transport = project
    transport.declare_queue("celery")
    transport.send("celery", "x")
    result = run("-A", module, "inspect")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["queue", "ready", "delayed", "in", "flight", "dead", "letters"]
    assert lines[1].split() == ["celery", "1", "0", "0", "0"]
    assert "emails" in lines[2] and "does not exist yet" in lines[2]


def test_purge_asks_first_and_keeps_everything_on_no(project):
    module, transport = project
    fill(transport)
    result = run("-A", module, "purge", input="n\n")
    assert result.exit_code == 1 and "Purge 5 message(s) from 2 queue(s)" in result.output
    assert transport.stats("celery").ready == 3


def test_purge_on_yes_or_force_deletes_the_queues_but_not_dead_letters(project):
    module, transport = project
    fill(transport)
    result = run("-A", module, "purge", input="y\n")
    assert result.exit_code == 0 and "Purged 5 message(s)" in result.output
    assert transport.stats("celery").ready == 0 and transport.stats("emails").in_flight == 0
    assert transport.stats("celery-dlq").ready == 1
    result = run("-A", module, "purge", "-f", "--dead-letters", "-Q", "celery")
    assert result.exit_code == 0 and transport.stats("celery-dlq").ready == 0


def test_purge_with_nothing_to_purge(project):
    module, _ = project
    result = run("-A", module, "purge", "-f")
    assert result.exit_code == 0 and "No messages to purge." in result.output
