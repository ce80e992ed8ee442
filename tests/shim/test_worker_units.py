"""The worker's parts on their own: dead-letter records, lease sizing, prefetch, time limits, batch
settlement and the puller (with the in-memory transport; no app needed)."""

from __future__ import annotations

import json
import time

import pytest

from cfq_shim.deadletter import DeadLetter, encode_record, parse
from cfq_shim.limits import DEFAULT_LIMITS
from cfq_shim.transport.memory import MemoryTransport
from cfq_shim.worker.leases import LEASE_MARGIN_MS, Prefetch, lease_ms_for
from cfq_shim.worker.puller import Puller, next_backoff
from cfq_shim.worker.settlement import ACK, Batch, Settlement
from cfq_shim.worker.timelimits import TimeKeeper, effective_limits


class Soft(Exception):
    pass


class Hard(Exception):
    pass


def record(**changes):
    fields = dict(reason="failed", original_body='{"id": "1"}', queue="celery", attempts=2,
                  hostname="w@h", task="proj.add", task_id="1", exc_type="ValueError",
                  message="bad", traceback="Traceback ...")
    fields.update(changes)
    return DeadLetter.create(**fields)


# -- dead-letter records -----------------------------------------------------------------------------
def test_dead_letter_record_round_trips_with_every_documented_field():
    body = encode_record(record(), max_body_bytes=DEFAULT_LIMITS.max_body_bytes)
    data = json.loads(body)
    assert {"v", "reason", "exc_type", "message", "traceback", "original_body", "queue", "attempts",
            "dead_lettered_at"} <= set(data)
    parsed = parse(body)
    assert (parsed.reason, parsed.task, parsed.exc_type, parsed.attempts) == ("failed", "proj.add", "ValueError", 2)
    assert parsed.original_body == '{"id": "1"}'


def test_dead_letter_unknown_reason_is_refused():
    with pytest.raises(ValueError, match="unknown dead-letter reason"):
        record(reason="oops")


def test_oversized_record_shortens_the_traceback_but_keeps_the_body():
    body = encode_record(record(traceback="x" * 50_000), max_body_bytes=10_000)
    parsed = parse(body)
    assert parsed.truncated and len(body.encode()) <= 10_000
    assert parsed.original_body == '{"id": "1"}'


def test_record_that_cannot_carry_the_body_falls_back_to_the_body_itself():
    original = json.dumps({"id": "9", "task": "proj.big", "args": ["y" * 9_900]})
    body = encode_record(record(original_body=original), max_body_bytes=10_000)
    assert body == original
    parsed = parse(body)
    assert (parsed.reason, parsed.task, parsed.task_id) == ("delivery-limit", "proj.big", "9")


# -- lease sizing and prefetch -----------------------------------------------------------------------
def test_lease_is_the_base_without_time_limits():
    assert lease_ms_for(100, slots=4, base_ms=30_000, per_task_seconds=None, max_ms=10**9) == 30_000


def test_lease_covers_rounds_of_the_longest_time_limit_and_is_capped():
    # 10 messages on 4 slots: 3 rounds of 60 s each.
    assert lease_ms_for(10, slots=4, base_ms=30_000, per_task_seconds=60, max_ms=10**9) == 180_000 + LEASE_MARGIN_MS
    assert lease_ms_for(10, slots=4, base_ms=30_000, per_task_seconds=60, max_ms=100_000) == 100_000


def test_prefetch_leases_only_free_slots_until_tasks_prove_fast():
    prefetch = Prefetch(slots=4, max_batch=100)
    assert prefetch.claim(0) == 4
    assert prefetch.claim(0) == 0  # claimed room counts at once: a second puller gets nothing
    prefetch.release(1, runtime_seconds=2.0)  # a slow task: one free slot -> one message
    assert prefetch.claim(0) == 1


def test_prefetch_deepens_for_fast_tasks_and_falls_back_at_once_for_a_slow_one():
    prefetch = Prefetch(slots=2, max_batch=100)
    assert prefetch.claim(0) == 2
    prefetch.unclaim(1)  # the pull brought one message
    prefetch.release(1, runtime_seconds=0.0001)
    assert prefetch.depth() == 100  # a pull's worth per slot
    assert prefetch.claim(0) == 100
    assert prefetch.claim(0) == 100  # the next pull may be in flight while the slots run the first
    assert prefetch.claim(0) == 0  # 2 slots x 100 leased
    prefetch.release(40)  # 160 still leased
    assert prefetch.claim(0) == 0  # less than half a pull of room: wait for a whole batch
    prefetch.release(10)
    assert prefetch.claim(0) == 50
    prefetch.release(1, runtime_seconds=5.0)
    assert prefetch.depth() == 1


def test_a_solo_slot_leases_one_pull_of_fast_tasks_at_a_time():
    prefetch = Prefetch(slots=1, max_batch=100)
    prefetch.release(0, runtime_seconds=0.0001)
    assert prefetch.claim(0) == 100
    assert prefetch.claim(0) == 0
    prefetch.release(50)
    assert prefetch.claim(0) == 50


def test_prefetch_with_several_pullers_allows_one_full_pull_each_for_fast_tasks_only():
    prefetch = Prefetch(slots=2, max_batch=100, pullers=3)
    assert [prefetch.claim(0) for _ in range(3)] == [2, 0, 0]  # slow until proven fast: the free slots
    prefetch.release(2, runtime_seconds=0.0001)
    assert [prefetch.claim(0) for _ in range(4)] == [100, 100, 100, 0]


def test_a_slot_shares_waiting_jobs_only_with_the_slots_that_wait_for_work():
    from cfq_shim.worker.pools import QueuedPool

    class Pool(QueuedPool):
        pass

    pool = Pool(concurrency=2, runner=lambda job: None, on_done=lambda job, outcome: None)
    pool.submit_many(list(range(100)))  # type: ignore[arg-type]
    # The other slot is busy (not waiting in _next_jobs): this one takes what waits, up to its limit.
    assert pool._next_jobs(60) == list(range(60))
    assert pool._next_jobs(100) == list(range(60, 100))
    assert pool.busy == 100


def test_prefetch_multiplier_fixes_the_depth():
    prefetch = Prefetch(slots=2, max_batch=100, fixed_depth=10)
    assert prefetch.claim(0) == 20
    prefetch.release(1, runtime_seconds=30.0)  # a slow task does not change a fixed depth
    assert prefetch.depth() == 10


# -- time limits in threads ----------------------------------------------------------------------------
def test_effective_limits_prefer_the_task_then_the_app():
    class Task:
        soft_time_limit = None
        time_limit = 7

    assert effective_limits(Task(), {"task_soft_time_limit": 3, "task_time_limit": 99}) == (3.0, 7.0)


def test_soft_limit_raises_inside_the_running_thread():
    keeper = TimeKeeper(soft_exception=Soft, hard_exception=Hard)

    def busy():
        try:
            while True:
                sum(range(100))
        except Soft:
            return "soft"

    try:
        assert keeper.call(busy, soft_seconds=0.05, hard_seconds=None) == "soft"
        # A task that finishes in time is not interrupted afterwards.
        assert keeper.call(lambda: "done", soft_seconds=0.01, hard_seconds=None) == "done"
        # Its deadline passes later without anything landing in this thread.
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            sum(range(100))
    finally:
        keeper.close()


# -- batch settlement ---------------------------------------------------------------------------------
@pytest.fixture
def transport():
    transport = MemoryTransport()
    transport.declare_queue("q")
    transport.declare_queue("q-dlq")
    yield transport
    transport.close()


def test_one_ack_call_settles_acks_retries_and_sends(transport, monkeypatch):
    for body in ("a", "b", "c"):
        transport.send("q", body)
    messages = transport.pull("q", batch_size=10, visibility_timeout_ms=30_000)
    calls = []
    real_ack = transport.ack
    monkeypatch.setattr(transport, "ack", lambda q, **kw: calls.append(kw) or real_ack(q, **kw))
    sent = []

    def send_many(items):
        sent.extend(items)
        for queue, body, delay in items:
            transport.send(queue, body, delay_seconds=delay)

    batch = Batch("q", messages, lease_ms=30_000, transport=transport, send_many=send_many)
    by_body = {m.body: m for m in messages}
    batch.settle(by_body["a"], ACK)
    batch.settle(by_body["b"], Settlement("retry", delay_seconds=0))
    assert calls == []  # nothing is flushed before the last message of the batch
    batch.settle(by_body["c"], Settlement("ack", send=("q-dlq", "record", 0)))
    assert len(calls) == 1 and len(calls[0]["acks"]) == 2 and len(calls[0]["retries"]) == 1
    assert sent == [("q-dlq", "record", 0)] and batch.flushed
    assert [m.body for m in transport.pull("q", batch_size=10, visibility_timeout_ms=1000)] == ["b"]


def test_a_failed_send_leaves_its_message_leased_instead_of_acking_it(transport):
    transport.send("q", "poison")
    messages = transport.pull("q", batch_size=1, visibility_timeout_ms=30_000)

    def send_many(items):
        raise RuntimeError("dead-letter queue unreachable")

    Batch("q", messages, lease_ms=30_000, transport=transport, send_many=send_many).settle(
        messages[0], Settlement("ack", send=("q-dlq", "record", 0))
    )
    assert transport.stats("q").in_flight == 1


def test_a_failed_ack_is_logged_and_does_not_raise(transport, monkeypatch, caplog):
    transport.send("q", "x")
    messages = transport.pull("q", batch_size=1, visibility_timeout_ms=30_000)

    def broken_ack(queue, **kwargs):
        raise ConnectionError("network down")

    monkeypatch.setattr(transport, "ack", broken_ack)
    Batch("q", messages, lease_ms=30_000, transport=transport, send_many=lambda items: None).settle(messages[0], ACK)
    assert "network down" in caplog.text


# -- the puller --------------------------------------------------------------------------------------
def test_puller_hands_over_batches_sized_to_the_room(transport, wait_until):
    for n in range(10):
        transport.send("q", str(n))
    prefetch = Prefetch(slots=3, max_batch=100)
    puller = Puller(transport, ["q"], prefetch=prefetch, lease_ms_for=lambda q, n: 30_000)
    puller.start()
    try:
        queue, messages, lease_ms, _ = puller.handoff.get(timeout=5)
        assert (queue, len(messages), lease_ms) == ("q", 3, 30_000)
        assert prefetch.outstanding == 3
        assert prefetch.claim(0) == 0  # no room: the puller has nothing to ask for
        assert puller.handoff.empty()
        prefetch.release(3, runtime_seconds=1.0)
        queue, messages, _, _ = puller.handoff.get(timeout=5)
        assert len(messages) == 3
    finally:
        puller.request_stop()
        wait_until(lambda: puller.stopped)


def test_empty_pull_backoff_doubles_from_10_ms_up_to_the_cap():
    waits, wait = [], 0.0
    for _ in range(10):
        wait = next_backoff(wait, 1.0)
        waits.append(wait)
    assert waits[:4] == [0.01, 0.02, 0.04, 0.08] and waits[-1] == 1.0 and max(waits) == 1.0


def test_puller_picks_up_a_message_sent_while_it_was_idle(transport, wait_until):
    prefetch = Prefetch(slots=1, max_batch=10)
    puller = Puller(transport, ["q"], prefetch=prefetch, lease_ms_for=lambda q, n: 1000,
                    max_idle_backoff_seconds=0.05)
    puller.start()
    try:
        wait_until(lambda: puller.pulls >= 3)  # several empty rounds
        transport.send("q", "late")
        _, messages, _, _ = puller.handoff.get(timeout=5)
        assert [m.body for m in messages] == ["late"]
    finally:
        puller.request_stop()
        wait_until(lambda: puller.stopped)


def test_banner_url_never_shows_credentials_or_query():
    from cfq_shim.worker.banner import safe_broker_url

    assert safe_broker_url("cloudflare://user:tok3n@0123abcd/?token=tok3n") == "cloudflare://0123abcd/"
    assert safe_broker_url("sqlite:////var/lib/q.sqlite3") == "sqlite:////var/lib/q.sqlite3"


def test_after_a_cold_stop_a_prefork_slot_runs_nothing_and_starts_no_child():
    # A slot that takes a job as the pool stops cold must not start a child for it: a child left
    # running would keep the worker's exit waiting for it (children are not daemonic).
    from types import SimpleNamespace

    from cfq_shim import Celery
    from cfq_shim.execution import Delivery
    from cfq_shim.envelope import Envelope
    from cfq_shim.transport.base import LeasedMessage
    from cfq_shim.worker.jobs import Job
    from cfq_shim.worker.prefork import PreforkPool

    app = Celery("units", broker="memory://")
    ran = []

    @app.task
    def noop():
        ran.append(1)

    outcomes = []
    pool = PreforkPool(concurrency=1, runner=lambda job: None, on_done=lambda job, outcome: outcomes.append(outcome),
                       app=app, start_method="fork")
    pool.stop(cold=True)
    slot = pool._slots[0]
    envelope = Envelope(id="t1", task=noop.name, args=[], kwargs={}, queue="celery")
    message = LeasedMessage(id="m1", body="{}", attempts=1, timestamp_ms=0, lease_id="l1", queue="celery")
    job = Job(message=message, batch=SimpleNamespace(lease_deadline=time.monotonic() + 60), hostname="h",
              envelope=envelope, delivery=Delivery(message_id="m1", queue="celery", attempts=1, hostname="h"))
    pool.submit(job)
    try:
        slot._loop()  # takes the job, as a slot thread does
        assert pool.child_pids() == [] and outcomes == []
    finally:
        slot.end_child(kill=True)


def test_the_tracker_counts_tasks_per_minute_over_the_last_hour(monkeypatch):
    from types import SimpleNamespace

    from cfq_shim import states
    from cfq_shim.worker import tracking

    now = [1_800_000_000.0]
    monkeypatch.setattr(tracking.time, "time", lambda: now[0])
    tracker = tracking.TaskTracker("celery@test")
    job = SimpleNamespace(envelope=SimpleNamespace(id="t", task="proj.add", retries=0, args=[], kwargs={}),
                          started_at=None, message=SimpleNamespace(queue="celery"))
    first_minute = int(now[0] // 60)
    tracker.finished(job, states.SUCCESS)
    tracker.finished(job, states.FAILURE)
    now[0] += 30 * 60
    tracker.finished(job, states.SUCCESS)
    assert tracker.per_minute() == {str(first_minute): [2, 1], str(first_minute + 30): [1, 0]}
    now[0] += 31 * 60  # the first minute is now more than an hour old
    tracker.finished(job, states.SUCCESS)
    assert tracker.per_minute() == {str(first_minute + 30): [1, 0], str(first_minute + 61): [1, 0]}
    assert (tracker.processed, tracker.failed) == (4, 1)
