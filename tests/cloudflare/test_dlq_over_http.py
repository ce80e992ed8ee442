"""``cfq-shim dlq`` on ``cloudflare://`` through the official SDK against the stand-in.

Pulling a dead-letter queue leases its messages: ``list`` must hand them back at once, ``replay`` must
ack only what it re-sent, and a replay killed with ``kill -9`` half-way must lose nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from click.testing import CliRunner
from stand_in_support import ACCOUNT, SECRET_TOKEN

from cfq_shim.cli import main
from cfq_shim.deadletter import DeadLetter, encode_record
from cfq_shim.limits import DEFAULT_LIMITS
from cfq_shim.transport.base import OutgoingMessage, QueueSettings
from cfq_shim.transport.cloudflare import CloudflareTransport

DEADLINE_SECONDS = 60  # safety net only

APP_SOURCE = f'''
from cfq_shim import Celery

app = Celery("dlqhttp", broker="cloudflare://{ACCOUNT}")


@app.task
def fix_me(n):
    return n
'''


@pytest.fixture
def project(tmp_path, monkeypatch, stand_in):
    module = f"dlqhttp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(APP_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", stand_in.base_url)
    transport = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=stand_in.base_url)
    transport.declare_queue("celery-dlq")
    transport.declare_queue("celery", QueueSettings(dead_letter_queue="celery-dlq", max_retries=0))
    yield module, transport
    transport.close()
    sys.modules.pop(module, None)


def dead_letter_body(module: str, n: int, *, task_id: str | None = None) -> tuple[str, str]:
    """A record as the worker writes it, for a call of ``fix_me(n)`` that failed."""
    task_id = task_id or str(uuid.uuid4())
    original = json.dumps({"v": 1, "id": task_id, "task": f"{module}.fix_me", "args": [n], "kwargs": {},
                           "queue": "celery", "retries": 3})
    record = DeadLetter.create(reason="failed", original_body=original, queue="celery", attempts=4,
                               hostname="celery@test", task=f"{module}.fix_me", task_id=task_id,
                               exc_type="ValueError", message=f"bad {n}", traceback="Traceback ...\nValueError")
    return task_id, encode_record(record, max_body_bytes=DEFAULT_LIMITS.max_body_bytes)


def fill(transport, module: str, count: int) -> list[str]:
    ids, bodies = [], []
    for n in range(count):
        task_id, body = dead_letter_body(module, n)
        ids.append(task_id)
        bodies.append(body)
    for start in range(0, count, 50):
        transport.send_batch("celery-dlq", [OutgoingMessage(b) for b in bodies[start:start + 50]])
    return ids


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def visible(transport, queue: str) -> int:
    """Messages a consumer could pull right now (without leasing them)."""
    return len(transport.peek(queue, batch_size=100))


def test_list_hands_every_lease_back_at_once(project):
    module, transport = project
    ids = fill(transport, module, 5)
    data = json.loads(run("-A", module, "dlq", "list", "--json").output)
    assert sorted(d["task_id"] for d in data["dead_letters"]) == sorted(ids)
    assert {d["exception"] for d in data["dead_letters"]} == {f"bad {n}" for n in range(5)}
    # The manual clock has not moved: the messages are pullable again only because list handed them back.
    pulled = transport.pull("celery-dlq", batch_size=10, visibility_timeout_ms=1000)
    assert len(pulled) == 5


def test_replay_acks_only_what_it_re_sent(project):
    module, transport = project
    ids = fill(transport, module, 4)
    result = run("-A", module, "dlq", "replay", "--id", ids[2])
    assert result.exit_code == 0, result.output
    (sent,) = transport.pull("celery", batch_size=10, visibility_timeout_ms=1000)
    assert json.loads(sent.body)["id"] == ids[2] and json.loads(sent.body)["args"] == [2]
    left = transport.pull("celery-dlq", batch_size=10, visibility_timeout_ms=1000)
    assert sorted(json.loads(m.body)["task_id"] for m in left) == sorted(ids[:2] + ids[3:])


def test_show_and_purge_and_an_empty_dead_letter_queue(project):
    module, transport = project
    empty = run("-A", module, "dlq", "list")
    assert empty.exit_code == 0 and "No dead letters in celery-dlq." in empty.output
    ids = fill(transport, module, 2)
    shown = run("-A", module, "dlq", "show", ids[0])
    assert shown.exit_code == 0 and "ValueError" in shown.output and f'"id": "{ids[0]}"' in shown.output
    purged = run("-A", module, "dlq", "purge", "-f")
    assert purged.exit_code == 0 and "Deleted 2 dead letter(s)" in purged.output
    assert visible(transport, "celery-dlq") == 0
    assert SECRET_TOKEN not in shown.output + purged.output


def test_a_queue_that_was_never_provisioned_is_said_plainly(project):
    module, _ = project
    result = run("-A", module, "dlq", "list", "-Q", "reports")
    assert result.exit_code == 1
    assert "Queue 'reports-dlq' does not exist" in result.output and "provision" in result.output


def _queue_bodies(db_path, name: str) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT m.body FROM messages m JOIN queues q ON q.queue_id = m.queue_id "
                            "WHERE q.queue_name = ?", (name,)).fetchall()
    return [row[0] if isinstance(row[0], str) else row[0].decode() for row in rows]


@pytest.mark.slow
def test_replay_killed_half_way_loses_nothing(tmp_path, project, stand_in, clock):
    module, transport = project
    count = 300
    ids = fill(transport, module, count)
    stand_in.latency_ms = 40  # each request takes a round trip, so the replay takes long enough to kill
    db_path = stand_in.service.store.path
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CLOUDFLARE_API_TOKEN": SECRET_TOKEN,
           "CLOUDFLARE_BASE_URL": stand_in.base_url}
    replay = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", module, "dlq", "replay", "--all",
                               "--lease-seconds", "30"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not _queue_bodies(db_path, "celery"):
            assert replay.poll() is None, f"the replay ended before it could be killed: {replay.stderr.read()}"
            assert time.monotonic() < deadline, "the replay sent nothing"
            time.sleep(0.002)
        os.kill(replay.pid, signal.SIGKILL)
        replay.wait(DEADLINE_SECONDS)
    finally:
        if replay.poll() is None:
            replay.kill()
        replay.stderr.close()
    stand_in.latency_ms = 0
    replayed = {json.loads(b)["id"] for b in _queue_bodies(db_path, "celery")}
    waiting = {json.loads(b)["task_id"] for b in _queue_bodies(db_path, "celery-dlq")}
    assert 0 < len(replayed) < count and waiting, "the kill did not land half-way"
    assert replayed | waiting == set(ids)  # nothing lost

    clock.advance(31_000)  # the killed replay's leases end: its dead letters come back
    result = run("-A", module, "dlq", "replay", "--all")
    assert result.exit_code == 0, result.output
    assert _queue_bodies(db_path, "celery-dlq") == []
    sent = [json.loads(b)["id"] for b in _queue_bodies(db_path, "celery")]
    assert set(sent) == set(ids) and len(sent) >= count  # every task once, at most a batch twice
