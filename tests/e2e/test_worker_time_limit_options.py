"""``cfq-shim worker --time-limit/--soft-time-limit`` (Celery's worker options, which the codemod now
keeps): limits for the tasks that have none, enforced by a real worker process."""

from __future__ import annotations

import pytest
from test_reliability import Harness

from cfq_shim.deadletter import parse


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.stop_all()


def _dead_letters(harness: Harness):
    transport = harness.transport()
    try:
        return [parse(m.body) for m in transport.peek("celery-dlq", batch_size=10)]
    finally:
        transport.close()


def test_time_limit_option_ends_a_task_without_its_own_limit(harness):
    harness.send("sleeps", 1, 30)  # no time_limit on the task
    harness.send("record", 2)
    harness.worker("-P", "prefork", "-c", "1", "--time-limit", "0.5")
    harness.wait_until(lambda: harness.queue_empty(), what="the queue to drain")
    [record] = _dead_letters(harness)
    assert (record.reason, record.exc_type) == ("time-limit", "TimeLimitExceeded")
    assert [n for n, _ in harness.lines("end")] == [2]


def test_soft_time_limit_option_raises_in_the_task(harness):
    harness.send("sleeps", 1, 30)
    harness.worker("-P", "prefork", "-c", "1", "--soft-time-limit", "0.3")
    harness.wait_until(lambda: harness.queue_empty(), what="the queue to drain")
    [record] = _dead_letters(harness)
    assert record.exc_type == "SoftTimeLimitExceeded"
    assert harness.lines("end") == []


def test_a_bad_value_is_a_one_line_usage_error():
    from click.testing import CliRunner

    from cfq_shim.cli import main

    result = CliRunner().invoke(main, ["-A", "x", "worker", "--time-limit", "0"])
    assert result.exit_code == 2 and "--time-limit" in result.output
