"""The embedded store's promise to a producer: a ``.delay()`` that returned survives ``kill -9`` of the
producing process (docs/transports.md). A real producer process sends in a loop and reports each id once
its call returned; it is killed at a random point, mid-stream (through checkpoints of the log too), and
every reported id must be in the file, which must still open, count its backlog right and be drained."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from cfq_shim import Celery

PRODUCER = textwrap.dedent(
    """
    import sys
    from cfq_shim import Celery

    app = Celery("durable", broker="sqlite:///" + sys.argv[1])

    @app.task(ignore_result=True)
    def record(n):
        pass

    out = sys.stdout
    n = 0
    while True:  # until killed
        out.write(record.delay(n).id + "\\n")
        out.flush()  # reported only after .delay() returned
        n += 1
    """
)


@pytest.mark.parametrize("round_", range(3))
def test_every_returned_delay_survives_kill_9_of_the_producer(tmp_path, round_):
    path = tmp_path / "queues.sqlite3"
    # Enough calls to cross checkpoints of the write-ahead log (a few pages each).
    stop_after = random.Random(round_).randrange(3_000, 12_000)
    producer = subprocess.Popen([sys.executable, "-c", PRODUCER, str(path)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    returned = []
    try:
        for line in producer.stdout:  # type: ignore[union-attr]
            returned.append(line.strip())
            if len(returned) >= stop_after:
                producer.send_signal(signal.SIGKILL)  # while it is sending the next ones
                break
        # What it reported before it died and this test had not read yet (the pipe's buffer).
        returned += producer.stdout.read().split()  # type: ignore[union-attr]
    finally:
        producer.kill()
        producer.wait(30)
    assert producer.returncode == -signal.SIGKILL
    assert len(returned) >= stop_after

    with sqlite3.connect(path) as conn:  # the file as the next process finds it (WAL recovered on open)
        stored = [json.loads(body)["id"] for (body,) in conn.execute("SELECT body FROM messages")]
        backlog = conn.execute("SELECT backlog_count FROM queues WHERE queue_name = 'celery'").fetchone()[0]
    missing = set(returned) - set(stored)
    assert not missing, f"{len(missing)} of {len(returned)} returned .delay() calls were lost"
    assert len(stored) == len(set(stored)) == backlog
    assert len(set(stored) - set(returned)) <= 1  # at most the call in flight when it was killed

    app = Celery("durable", broker=f"sqlite:///{path}")
    try:
        assert app.transport.stats("celery").ready == len(stored)
    finally:
        app.close()
