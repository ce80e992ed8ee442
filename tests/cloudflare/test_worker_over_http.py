"""A real worker process on cloudflare://, against the stand-in: every task runs, a failing one is dead-lettered."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

from stand_in_support import ACCOUNT, SECRET_TOKEN

from cfq_shim.transport.cloudflare import CloudflareTransport

DEADLINE_SECONDS = 60  # safety net only

APP_SOURCE = f'''
import os
from cfq_shim import Celery

app = Celery("httpapp", broker="cloudflare://{ACCOUNT}")
app.conf.cfq_queue_max_retries = 1


@app.task
def record(n):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(f"{{n}}\\n")


@app.task
def always_fails():
    raise ValueError("broken on purpose")
'''


def test_worker_process_runs_every_task_and_dead_letters_failures(tmp_path, stand_in):
    (tmp_path / "httpapp.py").write_text(textwrap.dedent(APP_SOURCE))
    record_file = tmp_path / "ran.txt"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "RECORD_FILE": str(record_file),
           "CLOUDFLARE_API_TOKEN": SECRET_TOKEN, "CLOUDFLARE_BASE_URL": stand_in.base_url}
    provision = subprocess.run([sys.executable, "-m", "cfq_shim", "-A", "httpapp", "provision"], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    assert provision.returncode == 0, provision.stderr
    sender = subprocess.run(
        [sys.executable, "-c", "from httpapp import record, always_fails\n"
                               "for n in range(40): record.delay(n)\n"
                               "always_fails.delay()"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    assert sender.returncode == 0, sender.stderr

    worker = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", "httpapp", "worker", "-P", "threads",
                               "-c", "4", "-l", "info"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    transport = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=stand_in.base_url)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        dead_letters = []
        while time.monotonic() < deadline:
            ran = record_file.read_text().split() if record_file.exists() else []
            dead_letters = transport.peek("celery-dlq", batch_size=10)
            if len(set(ran)) == 40 and dead_letters:
                break
            assert worker.poll() is None, worker.stderr.read()
            time.sleep(0.05)
        assert sorted(set(ran), key=int) == [str(n) for n in range(40)]
        (letter,) = dead_letters
        record = json.loads(letter.body)
        assert "ValueError" in json.dumps(record) and "broken on purpose" in json.dumps(record)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            log = worker.communicate(timeout=DEADLINE_SECONDS)[1]
        except subprocess.TimeoutExpired:
            worker.kill()
            log = worker.communicate()[1]
        transport.close()
    assert worker.returncode == 0, log
    assert SECRET_TOKEN not in log
