"""The outbox producer (``?producer=outbox``) against the stand-in through the official SDK: bulk pushes,
a producer killed after ``.delay()`` returned, an outage and a 429, ``inspect`` and ``forward``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from stand_in_support import ACCOUNT, SECRET_TOKEN

APP = f"""
import os
from cfq_shim import Celery

app = Celery("outboxapp", broker="cloudflare://{ACCOUNT}?producer=outbox&max_retries=0")

@app.task
def noop(n):
    return n
"""

SENDER = """
import os, signal, sys
sys.path.insert(0, os.getcwd())
from outboxapp import app, noop
count, ending = int(sys.argv[1]), sys.argv[2]
for n in range(count):
    noop.delay(n)
print("sent", flush=True)
if ending == "kill":
    os.kill(os.getpid(), signal.SIGKILL)  # right after .delay() returned: nothing may be lost
"""


@pytest.fixture
def project(tmp_path: Path, stand_in):
    (tmp_path / "outboxapp.py").write_text(APP)
    stand_in.service.store.create_queue("celery")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CLOUDFLARE_API_TOKEN": SECRET_TOKEN,
           "CLOUDFLARE_BASE_URL": stand_in.base_url, "CFQ_SHIM_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3"),
           "PYTHONPATH": str(tmp_path)}
    return tmp_path, env


def _run(project, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    root, env = project
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "cfq_shim", "-A", "outboxapp", *args]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_a_process_that_exits_pushes_its_outbox_in_bulk(project, stand_in):
    stand_in.reset_request_counts()
    result = _run(project, "500", "exit", code=SENDER)
    assert result.returncode == 0, result.stderr
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 500
    # Bulk pushes of up to 100, not one request per .delay() (how full they are depends on the machine's load).
    assert stand_in.request_counts().get("messages.batch", 0) <= 50
    assert SECRET_TOKEN not in result.stdout + result.stderr


def test_a_producer_killed_after_delay_returned_loses_nothing(project, stand_in):
    # Given a producer whose own forwarder may not have pushed yet when it is killed
    (project[0] / "outboxapp.py").write_text(APP + "\napp.conf.cfq_outbox_forwarder = 'external'\n")
    result = _run(project, "300", "kill", code=SENDER)
    assert result.returncode == -signal.SIGKILL and "sent" in result.stdout
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 0
    # When a forwarder runs later on the same outbox file
    forwarded = _run(project, "forward", "--once", "--timeout", "60")
    # Then every message is pushed
    assert forwarded.returncode == 0, forwarded.stderr
    assert "pushed 300 message(s)" in forwarded.stderr and "0 left" in forwarded.stderr
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 300


@pytest.mark.slow  # several seconds of real processes: CI's slow run has it
def test_an_outage_keeps_messages_in_the_outbox_and_inspect_says_why(project, stand_in):
    (project[0] / "outboxapp.py").write_text(APP + "\napp.conf.cfq_outbox_forwarder = 'external'\n")
    assert _run(project, "120", "exit", code=SENDER).returncode == 0
    stand_in.fail_next("messages.batch", status=503, code=15000, count=5)
    failed = _run(project, "forward", "--once", "--timeout", "1")
    assert failed.returncode == 1 and "120 left" in failed.stderr
    assert "Could not push" in failed.stderr and "they stay in" in failed.stderr
    inspected = _run(project, "inspect")
    assert inspected.returncode == 0, inspected.stderr
    assert "outbox " in inspected.stdout and "120 message(s) waiting" in inspected.stdout
    assert "last push error" in inspected.stdout
    assert SECRET_TOKEN not in failed.stderr + inspected.stdout
    # The outage ends: everything goes, once.
    recovered = _run(project, "forward", "--once", "--timeout", "60")
    assert recovered.returncode == 0, recovered.stderr
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 120
    inspected = _run(project, "inspect", "--json")
    assert json.loads(inspected.stdout)["outbox"]["depth"] == 0


def test_a_429_is_retried_after_a_second_without_loss(project, stand_in):
    (project[0] / "outboxapp.py").write_text(APP + "\napp.conf.cfq_outbox_forwarder = 'external'\n")
    assert _run(project, "50", "exit", code=SENDER).returncode == 0
    stand_in.fail_next("messages.batch", status=429, code=10250, count=1, retry_after_seconds=1)
    forwarded = _run(project, "forward", "--once", "--timeout", "60", "-l", "INFO")
    assert forwarded.returncode == 0, forwarded.stderr
    assert "is rate-limited" in forwarded.stderr
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 50


def test_forward_refuses_an_app_without_an_outbox(project):
    (project[0] / "outboxapp.py").write_text(APP.replace("?producer=outbox&", "?"))
    result = _run(project, "forward", "--once")
    assert result.returncode == 1
    assert "does not send through an outbox" in result.stderr and "Traceback" not in result.stderr
