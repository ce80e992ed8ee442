"""Concurrent single sends share bulk pushes, and nobody returns before their push succeeded."""

from __future__ import annotations

import threading

import pytest
from stand_in_support import ACCOUNT, SECRET_TOKEN

from cfq_shim.sending.coalesce import SendCoalescer
from cfq_shim.limits import DEFAULT_LIMITS
from cfq_shim.transport.base import Overloaded, OutgoingMessage

WAIT_SECONDS = 10  # safety net only


class GatedSender:
    """A send_batch that records each request and holds the first one until released."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.requests: list[list[str]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, queue, messages):
        with self._lock:
            self.requests.append([m.body for m in messages])
            number = len(self.requests)
        if number == 1:
            self.first_started.set()
            assert self.release.wait(WAIT_SECONDS)
        if number == self.fail_on:
            raise Overloaded("injected")


def start_senders(coalescer, bodies, results):
    threads = []
    for body in bodies:
        def run(body=body):
            try:
                coalescer.send("q", OutgoingMessage(body), cost=len(body) + 100)
                results[body] = "ok"
            except Exception as exc:  # recorded for the assertions
                results[body] = type(exc).__name__
        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
    return threads


def wait_until(condition):
    import time

    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_callers_waiting_behind_a_request_share_the_next_one():
    sender = GatedSender()
    coalescer = SendCoalescer(sender, max_in_flight=1)
    results: dict[str, str] = {}
    leader = start_senders(coalescer, ["first"], results)
    assert sender.first_started.wait(WAIT_SECONDS)
    followers = start_senders(coalescer, [f"m{i}" for i in range(50)], results)
    wait_until(lambda: len(coalescer._waiting["q"]) == 50)
    assert results == {}  # nobody returns before their request has succeeded
    sender.release.set()
    for thread in leader + followers:
        thread.join(WAIT_SECONDS)
    assert len(sender.requests) == 2
    assert sorted(sender.requests[1]) == sorted(f"m{i}" for i in range(50))
    assert set(results.values()) == {"ok"} and len(results) == 51


def test_a_failed_request_fails_exactly_its_callers():
    sender = GatedSender(fail_on=2)
    coalescer = SendCoalescer(sender, max_in_flight=1)
    results: dict[str, str] = {}
    leader = start_senders(coalescer, ["first"], results)
    assert sender.first_started.wait(WAIT_SECONDS)
    followers = start_senders(coalescer, ["a", "b", "c"], results)
    wait_until(lambda: len(coalescer._waiting["q"]) == 3)
    sender.release.set()
    for thread in leader + followers:
        thread.join(WAIT_SECONDS)
    assert results == {"first": "ok", "a": "Overloaded", "b": "Overloaded", "c": "Overloaded"}
    # The next caller starts afresh.
    coalescer.send("q", OutgoingMessage("later"), cost=105)
    assert sender.requests[-1] == ["later"]


def test_batches_respect_the_count_and_byte_limits():
    limits = DEFAULT_LIMITS.with_overrides(max_batch_messages=3, max_batch_bytes=1_000)
    sender = GatedSender()
    coalescer = SendCoalescer(sender, limits=limits, max_in_flight=1)
    results: dict[str, str] = {}
    leader = start_senders(coalescer, ["first"], results)
    assert sender.first_started.wait(WAIT_SECONDS)
    small = start_senders(coalescer, ["s1", "s2", "s3", "s4"], results)
    wait_until(lambda: len(coalescer._waiting["q"]) == 4)
    big = start_senders(coalescer, ["B" * 800], results)
    wait_until(lambda: len(coalescer._waiting["q"]) == 5)
    sender.release.set()
    for thread in leader + small + big:
        thread.join(WAIT_SECONDS)
    sizes = [len(r) for r in sender.requests[1:]]
    assert sum(sizes) == 5 and max(sizes) <= 3
    for request in sender.requests:
        assert sum(len(b) + 100 for b in request) <= 1_000 or len(request) == 1
    assert set(results.values()) == {"ok"}


class CountingSender:
    """A send_batch that holds every request until released and records how many ran at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.bodies: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, queue, messages):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        assert self.release.wait(WAIT_SECONDS)
        with self._lock:
            self.in_flight -= 1
            self.bodies.extend(m.body for m in messages)


def test_several_requests_fly_at_once_up_to_the_bound_and_every_message_goes_once():
    sender = CountingSender()
    coalescer = SendCoalescer(sender, max_in_flight=3)
    results: dict[str, str] = {}
    threads = start_senders(coalescer, [f"m{i}" for i in range(60)], results)
    wait_until(lambda: sender.in_flight == 3)
    sender.release.set()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert sender.most_in_flight == 3
    assert sorted(sender.bodies) == sorted(f"m{i}" for i in range(60))
    assert len(results) == 60 and set(results.values()) == {"ok"}
    assert coalescer._leaders["q"] == 0 and not coalescer._waiting["q"]


APP_SOURCE = f'''
from cfq_shim import Celery

app = Celery("coalesceapp", broker="cloudflare://{ACCOUNT}")


@app.task
def noop(i):
    return i
'''


def test_concurrent_delay_calls_share_requests_through_the_stand_in(tmp_path, monkeypatch, stand_in):
    import sys

    (tmp_path / "coalesceapp.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", stand_in.base_url)
    sys.modules.pop("coalesceapp", None)
    import coalesceapp

    stand_in.service.store.create_queue("celery")
    stand_in.latency_ms = 20  # a round trip long enough for callers to pile up behind it
    try:
        barrier = threading.Barrier(40)

        def call(i):
            barrier.wait(WAIT_SECONDS)
            coalesceapp.noop.delay(i)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
        stand_in.reset_request_counts()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        pushes = stand_in.request_counts()["messages.batch"]
        assert pushes < 40
        store = stand_in.service.store
        assert store.queue_by_name("celery").backlog_count == 40
    finally:
        coalesceapp.app.close()
        sys.modules.pop("coalesceapp", None)


def test_send_many_goes_straight_to_full_bulk_chunks(stand_in):
    from cfq_shim.sending.coalesce import CoalescingProducer
    from cfq_shim.transport.cloudflare import CloudflareTransport

    stand_in.service.store.create_queue("celery")
    transport = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=stand_in.base_url)
    producer = CoalescingProducer(transport)
    stand_in.reset_request_counts()
    producer.send_many([("celery", f"m{i}", 0) for i in range(250)])
    assert stand_in.request_counts() == {"messages.batch": 3}
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 250
    producer.send_many([("celery", f"n{i}", 0) for i in range(1_000)])  # ten pushes, four at a time
    assert stand_in.request_counts() == {"messages.batch": 13}
    assert stand_in.service.store.queue_by_name("celery").backlog_count == 1_250
    transport.close()


def test_send_many_checks_every_body_before_sending_any(stand_in):
    from cfq_shim.sending.coalesce import CoalescingProducer
    from cfq_shim.exceptions import EncodeError
    from cfq_shim.transport.cloudflare import CloudflareTransport

    stand_in.service.store.create_queue("celery")
    transport = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=stand_in.base_url)
    producer = CoalescingProducer(transport)
    items = [("celery", f"m{i}", 0) for i in range(500)]
    items.append(("celery", "x" * (transport.limits.max_body_bytes + 1), 0))
    stand_in.reset_request_counts()
    with pytest.raises(EncodeError):
        producer.send_many(items)
    assert stand_in.request_counts() == {}
    transport.close()
