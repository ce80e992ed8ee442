"""The prefork pool hands a child several tasks at once and reads their outcomes in batches; these tests
check that no guarantee is lost on the way, with a real worker process (``-P prefork -c 1``, so every
queued task goes through one child's hand-offs).

A task that finished is settled exactly once even when a later task of the same hand-off kills the
child; the tasks after it run on the next child; a warm shutdown hands back what a child had not
started.
"""

from __future__ import annotations

import re
import signal
from collections import Counter

import pytest

from cfq_shim.deadletter import parse

from test_reliability import Harness  # the sibling module's harness (tests/e2e is on sys.path)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX processes")


@pytest.fixture
def harness(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.stop_all()


def _dead_letters(harness):
    transport = harness.transport()
    try:
        return [parse(m.body) for m in transport.peek("celery-dlq", batch_size=100)]
    finally:
        transport.close()


def _drain_records_around(harness, task: str, *, before: int, after: int) -> None:
    """Queue ``before`` record tasks, then ``task``, then ``after`` more, and let one prefork child take
    them in hand-offs (a long lease: a rerun could only come from the pool) until the queue is empty."""
    for n in range(before):
        harness.send("record", n)
    harness.send(task, 99)
    for n in range(before, before + after):
        harness.send("record", n)
    harness.worker("-P", "prefork", "-c", "1", "--prefetch-multiplier", "20", "--visibility-timeout", "300")
    harness.wait_until(lambda: harness.queue_empty(), what="the queue to drain")


def test_a_child_that_dies_mid_handoff_loses_no_finished_outcome_and_reruns_nothing(harness):
    # Given tasks queued around one that ends its process, run by one child
    _drain_records_around(harness, "crashes", before=5, after=5)
    # Then every other task ran exactly once, and the crash is dead-lettered as a lost worker
    assert Counter(n for n, _ in harness.lines("end")) == Counter(range(10))
    [record] = _dead_letters(harness)
    assert (record.reason, record.exc_type) == ("worker-lost", "WorkerLostError")
    # ... the tasks after the crash ran in a fresh child
    crash_pid = next(pid for n, pid in harness.lines("crash"))
    events = harness.events()
    crash_at = next(i for i, (kind, _, _) in enumerate(events) if kind == "crash")
    assert all(pid != crash_pid for _, _, pid in events[crash_at + 1:])
    assert harness.processes[0].poll() is None


def test_hard_time_limit_mid_handoff_settles_the_tasks_before_it_once(harness):
    _drain_records_around(harness, "overruns_after", before=3, after=3)
    assert Counter(n for n, _ in harness.lines("end")) == Counter(range(6))
    assert [n for n, _ in harness.lines("start")].count(99) == 1
    [record] = _dead_letters(harness)
    assert (record.reason, record.exc_type) == ("time-limit", "TimeLimitExceeded")
    assert "Hard time limit (0.5s) exceeded for recorder.overruns_after[" in harness.log_of(0)


def test_warm_shutdown_hands_back_what_a_child_had_not_started(harness):
    # Given slow tasks, many of them handed to the one child at once
    total = 30
    for n in range(total):
        harness.send("record", n, 0.1)
    worker = harness.worker("-P", "prefork", "-c", "1", "--prefetch-multiplier", "30", "--visibility-timeout", "300")
    harness.wait_until(lambda: len(harness.lines("end")) >= 2, what="two tasks to finish")
    # When the worker gets SIGTERM
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    # Then the task running finished, and every task the child had not started is back in the queue
    # at once (ready, not waiting out the 300 s lease)
    started = Counter(n for n, _ in harness.lines("start"))
    ended = Counter(n for n, _ in harness.lines("end"))
    assert started == ended and set(ended.values()) == {1}
    assert len(ended) < total
    transport = harness.transport()
    stats = transport.stats("celery")
    transport.close()
    assert stats.in_flight == 0 and stats.ready == total - len(ended)
    handed_back = re.search(r"Handed back (\d+) leased message", harness.log_of(0))
    assert handed_back is not None
