"""The producer: batches within Cloudflare's limits and never half-sends."""

from __future__ import annotations

import pytest

from cfq_shim.exceptions import EncodeError
from cfq_shim.limits import DEFAULT_LIMITS
from cfq_shim.sending.producer import Producer
from cfq_shim.transport.memory import MemoryTransport


class CountingTransport(MemoryTransport):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batches = []

    def send_batch(self, queue, messages):
        self.batches.append((queue, len(messages)))
        super().send_batch(queue, messages)


def test_send_many_chunks_by_count_and_bytes():
    # Each message counts as body + Cloudflare's metadata bytes: two 10-byte bodies fit, three do not.
    limits = DEFAULT_LIMITS.with_overrides(
        max_batch_messages=3, max_batch_bytes=2 * (10 + DEFAULT_LIMITS.message_metadata_bytes) + 5
    )
    transport = CountingTransport(limits=limits)
    producer = Producer(transport, limits=limits)
    producer.send_many([("a", "x" * 10, 0)] * 5)
    assert transport.batches == [("a", 2), ("a", 2), ("a", 1)]
    assert transport.stats("a").ready == 5
    by_count = DEFAULT_LIMITS.with_overrides(max_batch_messages=3)
    transport = CountingTransport(limits=by_count)
    Producer(transport, limits=by_count).send_many([("b", "y", 0)] * 7)
    assert transport.batches == [("b", 3), ("b", 3), ("b", 1)]
    assert transport.stats("b").ready == 7


def test_send_many_checks_everything_before_sending_anything():
    transport = CountingTransport()
    producer = Producer(transport)
    too_big = "x" * (DEFAULT_LIMITS.max_body_bytes + 1)
    with pytest.raises(EncodeError, match=r"a message to queue 'a': its message is \d+ bytes"):
        producer.send_many([("a", "ok", 0), ("a", too_big, 0)])
    assert transport.batches == []


def test_delays_are_capped_at_the_transport_maximum():
    transport = CountingTransport()
    producer = Producer(transport)
    producer.send("a", "later", delay_seconds=10 * DEFAULT_LIMITS.max_delay_seconds)
    assert transport.stats("a").delayed == 1


def test_queues_are_declared_once_with_settings():
    declared = []

    class Declaring(CountingTransport):
        def declare_queue(self, name, settings=None):
            declared.append((name, settings))
            super().declare_queue(name, settings)

    producer = Producer(Declaring(), queue_settings=lambda name: None)
    producer.send("a", "1")
    producer.send("a", "2")
    producer.send_many([("a", "3", 0), ("b", "4", 0)])
    assert declared == [("a", None), ("b", None)]


def test_send_batch_is_one_transport_call_and_the_transport_refuses_a_batch_over_the_limits():
    from cfq_shim.transport.base import TooManyMessages

    transport = CountingTransport()
    producer = Producer(transport)
    producer.send_batch("a", [("now", 0), ("later", 10 * DEFAULT_LIMITS.max_delay_seconds)])
    assert transport.batches == [("a", 2)]
    assert (transport.stats("a").ready, transport.stats("a").delayed) == (1, 1)  # the delay capped, as send's
    with pytest.raises(TooManyMessages):
        producer.send_batch("a", [("x", 0)] * (DEFAULT_LIMITS.max_batch_messages + 1))
    assert transport.stats("a").ready == 1
