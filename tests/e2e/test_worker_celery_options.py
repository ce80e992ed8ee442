"""``cfq-shim worker --time-limit/--soft-time-limit/--pidfile`` (Celery's worker options, which the
codemod keeps): limits for the tasks that have none, and a pid file, with real worker processes."""

from __future__ import annotations

import signal

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


def test_pidfile_holds_the_worker_refuses_a_second_and_goes_on_exit(harness, tmp_path):
    pidfile = tmp_path / "worker.pid"
    first = harness.worker("-P", "solo", "--pidfile", str(pidfile))
    harness.wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() == str(first.pid),
                       what="the pid file")
    second = harness.worker("-P", "solo", "--pidfile", str(pidfile))
    assert second.wait(60) == 1
    assert "is it already running?" in harness.log_of(1) and "Traceback" not in harness.log_of(1)
    assert pidfile.read_text().strip() == str(first.pid)  # the refused worker left it alone
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 0
    assert not pidfile.exists()
