"""The opt-in buffered producer (``?producer=buffered``): returns at once, flush reports failures, exit flushes."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from stand_in_support import ACCOUNT, SECRET_TOKEN

from cfq_shim.sending.buffered import BufferedSender, UnsentMessages
from cfq_shim.limits import DEFAULT_LIMITS
from cfq_shim.transport.base import Overloaded, OutgoingMessage

WAIT_SECONDS = 10  # safety net only


class HeldSender:
    def __init__(self, *, fail: bool = False) -> None:
        self.release = threading.Event()
        self.requests: list[list[str]] = []
        self.fail = fail

    def __call__(self, queue, messages):
        assert self.release.wait(WAIT_SECONDS)
        self.requests.append([m.body for m in messages])
        if self.fail:
            raise Overloaded("injected")


def test_send_returns_before_the_push_and_flush_waits_for_it():
    sender = HeldSender()
    buffered = BufferedSender(sender, max_in_flight=2)
    for n in range(250):
        buffered.send("q", OutgoingMessage(f"m{n}"), cost=103)  # returns although nothing was pushed
    assert sender.requests == []
    with pytest.raises(TimeoutError):
        buffered.flush(timeout_seconds=0.05)
    sender.release.set()
    buffered.flush(timeout_seconds=WAIT_SECONDS)
    assert sorted(b for r in sender.requests for b in r) == sorted(f"m{n}" for n in range(250))
    assert max(len(r) for r in sender.requests) <= DEFAULT_LIMITS.max_batch_messages
    buffered.close()


def test_failed_pushes_are_reported_once_by_flush_and_kept():
    sender = HeldSender(fail=True)
    sender.release.set()
    buffered = BufferedSender(sender)
    for n in range(3):
        buffered.send("q", OutgoingMessage(f"m{n}"), cost=102)
    with pytest.raises(UnsentMessages) as caught:
        buffered.flush(timeout_seconds=WAIT_SECONDS)
    assert caught.value.count == 3
    assert sorted(m.body for _, m in buffered.unsent) == ["m0", "m1", "m2"]
    buffered.flush(timeout_seconds=WAIT_SECONDS)  # nothing new to report
    buffered.close()


def test_a_closed_buffer_refuses_new_messages():
    buffered = BufferedSender(HeldSender())
    buffered.close()
    with pytest.raises(Exception, match="closed"):
        buffered.send("q", OutgoingMessage("late"), cost=104)


SENDER = f"""
from cfq_shim import Celery
app = Celery("bufapp", broker="cloudflare://{ACCOUNT}?producer=buffered")

@app.task
def noop(n):
    return n

for n in range(500):
    noop.delay(n)
# no flush: interpreter exit flushes the buffer
"""


def test_a_process_that_exits_without_flushing_still_pushes_everything(tmp_path, stand_in):
    stand_in.service.store.create_queue("celery")
    env = {"PATH": "/usr/bin:/bin", "CLOUDFLARE_API_TOKEN": SECRET_TOKEN, "CLOUDFLARE_BASE_URL": stand_in.base_url}
    stand_in.reset_request_counts()
    result = subprocess.run([sys.executable, "-c", SENDER], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 500
    pushes = stand_in.request_counts().get("messages.batch", 0)
    assert pushes < 100  # bulk pushes, not one request per .delay()
    assert SECRET_TOKEN not in result.stdout + result.stderr


def test_unknown_producer_mode_is_refused(monkeypatch, stand_in):
    from cfq_shim.transport import open_transport

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", stand_in.base_url)
    with pytest.raises(ValueError, match="producer must be one of durable, buffered"):
        open_transport(f"cloudflare://{ACCOUNT}?producer=fast")
