"""``cfq-shim emulator`` as a subprocess: prints where it listens, keeps --db across restarts, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cloudflare
from stand_in_support import ACCOUNT, SECRET_TOKEN

STARTUP_TIMEOUT_SECONDS = 30  # safety net only


@contextmanager
def running_stand_in(db: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cfq_shim", "emulator", "--port", "0", "--db", str(db), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()  # the first line says where it listens
        assert "CLOUDFLARE_BASE_URL=" in line, line + process.stderr.read()
        yield line.strip().split("CLOUDFLARE_BASE_URL=", 1)[1], process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STARTUP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_subprocess_serves_the_sdk_and_keeps_its_db_across_restarts(tmp_path):
    db = tmp_path / "stand-in.sqlite3"
    with running_stand_in(db, "--token", SECRET_TOKEN, "--latency-ms", "1", "-l", "debug") as (base_url, process):
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/client/v4")
        client = cloudflare.Cloudflare(api_token=SECRET_TOKEN, base_url=base_url, max_retries=0)
        queue = client.queues.create(account_id=ACCOUNT, queue_name="kept")
        client.queues.messages.push(queue.queue_id, account_id=ACCOUNT, body="survives", content_type="text")
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(STARTUP_TIMEOUT_SECONDS) == 0
        output = process.stdout.read() + process.stderr.read()
    assert SECRET_TOKEN not in output  # not in the banner, not in the DEBUG request log
    assert "POST /client/v4/accounts/" in output  # the request log did run

    with running_stand_in(db) as (base_url, _):
        client = cloudflare.Cloudflare(api_token="any", base_url=base_url, max_retries=0)
        (queue,) = list(client.queues.list(account_id=ACCOUNT))
        (message,) = client.queues.messages.pull(queue.queue_id, account_id=ACCOUNT).messages
        assert (queue.queue_name, message.body) == ("kept", "survives")
        client.close()


def test_help_describes_every_option():
    result = subprocess.run([sys.executable, "-m", "cfq_shim", "emulator", "--help"],
                            capture_output=True, text=True, check=True)
    for option in ("--host", "--port", "--db", "--latency-ms", "--token"):
        assert option in result.stdout


def test_a_port_in_use_or_an_unopenable_db_is_a_clear_error_not_a_traceback(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([sys.executable, "-m", "cfq_shim", "emulator", "--port", str(port)],
                              capture_output=True, text=True, timeout=STARTUP_TIMEOUT_SECONDS)
    assert busy.returncode != 0
    assert f"127.0.0.1:{port}" in busy.stderr and "Traceback" not in busy.stderr, busy.stderr
    no_dir = tmp_path / "missing" / "stand-in.sqlite3"
    bad_db = subprocess.run([sys.executable, "-m", "cfq_shim", "emulator", "--port", "0", "--db", str(no_dir)],
                            capture_output=True, text=True, timeout=STARTUP_TIMEOUT_SECONDS)
    assert bad_db.returncode != 0
    assert str(no_dir) in bad_db.stderr and "Traceback" not in bad_db.stderr, bad_db.stderr
