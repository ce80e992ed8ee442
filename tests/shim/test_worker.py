"""The worker in-process on the memory transport: outcomes become the right settlements, batches are
settled with one ack call, time limits, early ack, ETA hops, shutdown and the worker signals."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from cfq_shim import Celery, signals
from cfq_shim.deadletter import parse
from cfq_shim.exceptions import Reject, SoftTimeLimitExceeded
from cfq_shim.worker import Worker


def dead_letters(app, queue="celery"):
    return [parse(m.body) for m in app.transport.peek(f"{queue}-dlq", batch_size=100)]


@pytest.fixture
def app(make_app):
    return make_app(cfq_queue_max_retries=3)


def test_tasks_run_and_their_messages_are_acked(app, start_worker):
    ran = []

    @app.task
    def add(x, y):
        ran.append(x + y)
        return x + y

    for n in range(20):
        add.delay(n, 1)
    start_worker().drain(10)
    assert sorted(ran) == [n + 1 for n in range(20)]
    stats = app.transport.stats("celery")
    assert (stats.ready, stats.in_flight, stats.dead_letters) == (0, 0, 0)


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_each_pulled_batch_is_settled_with_one_ack_call(app, start_worker, pool, monkeypatch):
    @app.task
    def noop(n):
        return n

    for n in range(30):
        noop.delay(n)
    pulls, acks = [], []
    transport = app.transport
    real_pull, real_ack = transport.pull, transport.ack
    monkeypatch.setattr(transport, "pull", lambda q, **kw: pulls.append(r := real_pull(q, **kw)) or r)
    monkeypatch.setattr(transport, "ack", lambda q, **kw: acks.append(kw) or real_ack(q, **kw))
    start_worker(pool=pool).drain(10)
    non_empty = [batch for batch in pulls if batch]
    assert sum(len(kw["acks"]) for kw in acks) == 30
    assert len(acks) == len(non_empty)


def test_retry_with_the_same_body_is_a_transport_retry_counted_by_attempts(app, start_worker):
    seen = []

    @app.task(bind=True, max_retries=2, default_retry_delay=0)
    def flaky(self):
        seen.append(self.request.retries)
        if self.request.retries < 2:
            raise self.retry(countdown=0)
        return "ok"

    flaky.delay()
    start_worker().drain(10)
    assert seen == [0, 1, 2]
    assert dead_letters(app) == []


def test_failure_without_retry_policy_is_dead_lettered_with_reason_and_traceback(app, start_worker):
    failures = []
    signals.task_failure.connect(lambda sender=None, **kw: failures.append(kw["exception"]), weak=False,
                                 dispatch_uid="test-worker-failure")
    try:
        @app.task
        def boom():
            raise ZeroDivisionError("no")

        result = boom.delay()
        start_worker().drain(10)
    finally:
        signals.task_failure.disconnect(dispatch_uid="test-worker-failure")
    [record] = dead_letters(app)
    assert (record.reason, record.exc_type, record.task, record.task_id) == (
        "failed", "ZeroDivisionError", boom.name, result.id)
    assert "ZeroDivisionError" in record.traceback and json.loads(record.original_body)["id"] == result.id
    assert [type(e) for e in failures] == [ZeroDivisionError]


def test_exhausted_autoretry_ends_in_the_dead_letter_queue(app, start_worker):
    calls = []

    @app.task(autoretry_for=(ValueError,), max_retries=2, retry_backoff=False, default_retry_delay=0)
    def always_fails():
        calls.append(1)
        raise ValueError("still broken")

    always_fails.delay()
    start_worker().drain(10)
    assert len(calls) == 3
    [record] = dead_letters(app)
    assert record.exc_type in ("ValueError", "MaxRetriesExceededError") and record.reason in (
        "failed", "max-retries-exceeded")


def test_poison_messages_are_dead_lettered_and_the_worker_keeps_going(app, start_worker):
    ran = []

    @app.task
    def fine(n):
        ran.append(n)

    app.transport.declare_queue("celery", app.queue_settings("celery"))
    app.transport.send("celery", "this is not an envelope")
    app.send_task("proj.nobody_defines_this", args=[1])
    fine.delay(1)
    start_worker().drain(10)
    assert ran == [1]
    reasons = sorted(r.reason for r in dead_letters(app))
    assert reasons == ["undecodable", "unknown-task"]
    assert "this is not an envelope" in [r.original_body for r in dead_letters(app)]


def test_expired_message_is_acked_without_running(app, start_worker):
    ran = []

    @app.task
    def late():
        ran.append(1)

    late.apply_async(expires=datetime.now(timezone.utc) - timedelta(seconds=5))
    start_worker().drain(10)
    assert ran == [] and dead_letters(app) == []


def test_reject_with_requeue_comes_back_and_without_is_dead_lettered(app, start_worker):
    tries = []

    @app.task(bind=True)
    def picky(self, requeue):
        tries.append(requeue)
        if requeue and len(tries) == 1:
            raise Reject("not now", requeue=True)
        if not requeue:
            raise Reject("never", requeue=False)

    picky.delay(True)
    worker = start_worker()
    worker.drain(10)
    assert tries == [True, True]
    picky.delay(False)
    worker.drain(10)
    assert len(dead_letters(app)) == 1
    assert dead_letters(app)[0].reason == "rejected"


def test_eta_beyond_the_maximum_delay_hops_without_running(start_worker, wait_until):
    app = Celery("proj", broker="memory://", cfq_limits={"max_delay_seconds": 60})
    ran = []

    @app.task
    def later():
        ran.append(1)

    later.apply_async(eta=datetime.now(timezone.utc) + timedelta(hours=2))
    app.transport.declare_queue("celery", app.queue_settings("celery"))
    # The producer sends it with the longest delay; make it visible now, as if that delay had passed.
    [message] = app.transport.peek("celery", batch_size=1)
    app.transport.purge("celery")
    app.transport.send("celery", message.body)
    worker = Worker(app, pool="solo", max_idle_backoff_seconds=0.02).start()
    try:
        wait_until(lambda: app.transport.stats("celery").delayed == 1)
        assert ran == [] and app.transport.stats("celery").ready == 0
    finally:
        worker.stop()
        app.close()


def test_soft_time_limit_raises_inside_a_thread_pool_task(app, start_worker):
    caught = []

    @app.task(soft_time_limit=0.2)
    def slow():
        try:
            while True:
                time.sleep(0.01)
        except SoftTimeLimitExceeded:
            caught.append(True)
            raise

    slow.delay()
    start_worker().drain(20)
    assert caught == [True]
    [record] = dead_letters(app)
    assert record.exc_type == "SoftTimeLimitExceeded"


def test_explicit_early_ack_acks_before_running(app, start_worker):
    in_flight_while_running = []

    @app.task(acks_late=False)
    def early():
        in_flight_while_running.append(app.transport.stats("celery").in_flight)

    @app.task
    def late():
        in_flight_while_running.append(app.transport.stats("celery").in_flight)

    early.delay()
    worker = start_worker(pool="solo")
    worker.drain(10)
    late.delay()
    worker.drain(10)
    assert len(in_flight_while_running) == 2
    assert in_flight_while_running == [0, 1]


def test_warm_stop_finishes_running_tasks_and_hands_back_the_rest(app, wait_until):
    started, release = threading.Event(), threading.Event()
    finished = []

    @app.task
    def fast():
        pass

    @app.task
    def block(n):
        started.set()
        release.wait(10)
        finished.append(n)

    # A fixed lease depth of 5: the adaptive depth follows measured run times, which a loaded
    # machine stretches, and then fewer than five messages would be leased.
    worker = Worker(app, pool="solo", max_idle_backoff_seconds=0.02, prefetch_multiplier=5).start()
    for _ in range(20):
        fast.delay()
    worker.drain(10)
    for n in range(5):
        block.delay(n)
    assert started.wait(10)
    wait_until(lambda: app.transport.stats("celery").in_flight == 5)  # one running, four leased
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    wait_until(lambda: worker.shutdown.warm)
    release.set()
    stopper.join(10)
    assert worker.exit_code == 0 and len(finished) == 1
    stats = app.transport.stats("celery")
    assert stats.in_flight == 0 and stats.ready == 4  # handed back at once, not after a lease timeout


def test_worker_signals_fire_in_order(app):
    fired = []
    names = ("worker_init", "worker_process_init", "worker_ready", "worker_shutdown")
    for name in names:
        getattr(signals, name).connect(lambda sender=None, _n=name, **kw: fired.append(_n), weak=False,
                                       dispatch_uid=f"test-{name}")
    try:
        worker = Worker(app, pool="threads", concurrency=1).start()
        worker.stop()
    finally:
        for name in names:
            getattr(signals, name).disconnect(dispatch_uid=f"test-{name}")
    assert fired == list(names)


def test_drain_raises_timeout_when_the_queue_does_not_empty(app, start_worker):
    @app.task
    def stuck():
        time.sleep(1)

    stuck.delay()
    worker = start_worker(pool="threads", concurrency=1)
    with pytest.raises(TimeoutError):
        worker.drain(0.1)


def test_unknown_pool_is_refused(app):
    with pytest.raises(ValueError, match="unknown pool"):
        Worker(app, pool="gevent")


def test_lease_covers_the_time_limits_of_the_queue_tasks(app, start_worker, monkeypatch):
    @app.task(time_limit=120, queue="slow")
    def slow_task():
        return 1

    @app.task
    def quick():
        return 2

    leases = {}
    transport = app.transport
    real_pull = transport.pull

    def spy(queue, **kwargs):
        leases.setdefault(queue, kwargs["visibility_timeout_ms"])
        return real_pull(queue, **kwargs)

    monkeypatch.setattr(transport, "pull", spy)
    slow_task.delay()
    quick.delay()
    worker = start_worker(pool="threads", concurrency=2, visibility_timeout_ms=10_000)
    worker.drain(10)
    assert leases["celery"] == 10_000  # no time limit: the configured lease
    assert leases["slow"] >= 120_000  # one round of a 120 s hard limit, plus a margin


def test_sys_exit_in_a_task_fails_it_without_killing_the_pool_thread(app, start_worker):
    ran = []

    @app.task
    def exits():
        raise SystemExit(3)

    @app.task
    def after():
        ran.append(1)

    exits.delay()
    worker = start_worker(pool="threads", concurrency=1)
    worker.drain(10)
    after.delay()
    worker.drain(10)
    assert ran == [1]
    [record] = dead_letters(app)
    assert record.exc_type == "SystemExit"


def test_start_raises_what_stopped_the_worker_at_set_up():
    from cfq_shim.transport.base import UnsupportedBrokerURL

    app = Celery("proj", broker="amqp://guest:guest@localhost//")
    worker = Worker(app)
    with pytest.raises(UnsupportedBrokerURL, match="Celery broker"):
        worker.start()
    with pytest.raises(RuntimeError, match="stopped with an error"):
        worker.drain(1)


def test_a_failed_ack_does_not_stop_the_worker_and_the_message_comes_back(app, start_worker, monkeypatch, caplog, wait_until):
    runs = []

    @app.task
    def once_more():
        runs.append(1)

    transport = app.transport
    real_ack = transport.ack
    failures = []

    def flaky_ack(queue, **kwargs):
        if not failures:
            failures.append(kwargs)
            raise ConnectionError("ack lost on the way")
        return real_ack(queue, **kwargs)

    monkeypatch.setattr(transport, "ack", flaky_ack)
    once_more.delay()
    caplog.set_level("INFO", logger="cfq_shim.worker")
    worker = start_worker(pool="solo", visibility_timeout_ms=300)
    wait_until(lambda: "duplicate of one completed lately" in caplog.text)
    worker.drain(20)
    # Delivered again once its lease ran out, and recognised as done: acked without running twice.
    assert len(failures) == 1 and len(runs) == 1
    assert "ack lost on the way" in caplog.text


def test_a_failing_pull_is_retried(app, start_worker, monkeypatch):
    ran = []

    @app.task
    def fine():
        ran.append(1)

    transport = app.transport
    real_pull = transport.pull
    errors = []

    def flaky_pull(queue, **kwargs):
        if len(errors) < 2:
            errors.append(queue)
            raise ConnectionError("pull failed")
        return real_pull(queue, **kwargs)

    monkeypatch.setattr(transport, "pull", flaky_pull)
    fine.delay()
    start_worker(pool="solo").drain(20)
    assert ran == [1] and len(errors) == 2
