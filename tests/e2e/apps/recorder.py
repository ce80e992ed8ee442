"""Tasks for the reliability tests: each records its runs in a file, one line per event.

The broker comes from ``CFQ_SHIM_BROKER_URL`` (the app's documented fallback) and the record file from
``RECORDER_FILE``. Lines are written with a single ``os.write`` on an ``O_APPEND`` descriptor, so lines
from several processes never interleave.
"""

import os
import time

from cfq_shim import Celery, signals

app = Celery("recorder")
app.conf.cfq_queue_max_retries = 100


def _record(*fields):
    line = " ".join(str(f) for f in fields) + "\n"
    fd = os.open(os.environ["RECORDER_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@app.task(bind=True)
def record(self, n, sleep_seconds=0.0):
    """Records ``start N PID``, sleeps, then records ``end N PID``."""
    _record("start", n, os.getpid())
    if sleep_seconds:
        time.sleep(sleep_seconds)
    _record("end", n, os.getpid())
    return n


@app.task
def always_fails(n):
    _record("fail", n, os.getpid())
    raise RuntimeError(f"poison {n}")


@app.task(time_limit=0.5)
def overruns(n):
    _record("overrun", n, os.getpid())
    time.sleep(30)


@app.task(soft_time_limit=0.3)
def soft_limited(n):
    from cfq_shim.exceptions import SoftTimeLimitExceeded

    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        _record("soft", n, os.getpid())
        return n


@app.task
def sleeps(n, seconds):
    _record("start", n, os.getpid())
    time.sleep(seconds)
    _record("end", n, os.getpid())


@app.task
def crashes(n):
    """Ends its process at once, as a segfault or an OOM kill would."""
    _record("crash", n, os.getpid())
    os._exit(3)


@app.task(time_limit=0.5)
def overruns_after(n):
    """Records ``start N PID``, then runs past its hard time limit."""
    _record("start", n, os.getpid())
    time.sleep(30)


@signals.worker_process_init.connect
def _process_init(**kwargs):
    _record("init", 0, os.getpid())
