"""Contract: every size, count and delay bound, at the bound and one past it, with Cloudflare's code.

The bounds are read from ``transport.limits``; a rejected request stores nothing.
"""

from __future__ import annotations

import pytest
from contract_support import assert_empty, counts_by_state, fresh_queue, pull_until

from cfq_shim.transport.base import (
    BatchTooLarge,
    InvalidArgument,
    InvalidDelay,
    MessageTooLarge,
    OutgoingMessage,
    TooManyMessages,
)


def largest_body(limits) -> str:
    return "x" * limits.max_body_bytes


def test_a_message_at_the_size_limit_is_accepted(transport):
    queue = fresh_queue(transport)
    transport.send(queue, largest_body(transport.limits))
    (message,) = pull_until(transport, queue, 1)
    assert len(message.body) == transport.limits.max_body_bytes


def test_one_byte_over_the_size_limit_is_rejected_with_10204(transport):
    queue = fresh_queue(transport)
    with pytest.raises(MessageTooLarge) as raised:
        transport.send(queue, largest_body(transport.limits) + "x")
    assert raised.value.code == 10204
    assert_empty(transport, queue)


def test_size_counts_utf8_bytes_not_characters(transport):
    queue = fresh_queue(transport)
    two_byte_chars = "é" * (transport.limits.max_body_bytes // 2 + 1)  # fewer chars than the limit
    assert len(two_byte_chars) < transport.limits.max_body_bytes
    with pytest.raises(MessageTooLarge):
        transport.send(queue, two_byte_chars)


def test_a_batch_of_the_most_messages_is_accepted(transport):
    queue = fresh_queue(transport)
    count = transport.limits.max_batch_messages
    transport.send_batch(queue, [OutgoingMessage(f"m{i}") for i in range(count)])
    assert len(pull_until(transport, queue, count)) == count


def test_one_message_too_many_in_a_batch_is_rejected_with_10206(transport):
    queue = fresh_queue(transport)
    count = transport.limits.max_batch_messages + 1
    with pytest.raises(TooManyMessages) as raised:
        transport.send_batch(queue, [OutgoingMessage(f"m{i}") for i in range(count)])
    assert raised.value.code == 10206
    assert_empty(transport, queue)


def batch_of_total_bytes(limits, total_bytes: int) -> list[OutgoingMessage]:
    """Messages, each within the message limit, whose costs (body + metadata) sum to ``total_bytes``."""
    per_message = limits.max_message_bytes // 2  # room to grow one message past the batch limit
    messages = []
    remaining = total_bytes
    while remaining > 0:
        cost = min(per_message, remaining)
        assert cost > limits.message_metadata_bytes, "pick a total that splits into real messages"
        messages.append(OutgoingMessage("y" * (cost - limits.message_metadata_bytes)))
        remaining -= cost
    return messages


def test_a_batch_at_the_byte_limit_is_accepted(transport):
    queue = fresh_queue(transport)
    messages = batch_of_total_bytes(transport.limits, transport.limits.max_batch_bytes)
    transport.send_batch(queue, messages)
    assert len(pull_until(transport, queue, len(messages))) == len(messages)


def test_a_batch_one_byte_over_the_byte_limit_is_rejected_with_10205(transport):
    queue = fresh_queue(transport)
    messages = batch_of_total_bytes(transport.limits, transport.limits.max_batch_bytes)
    messages[-1] = OutgoingMessage(messages[-1].body + "y")
    with pytest.raises(BatchTooLarge) as raised:
        transport.send_batch(queue, messages)
    assert raised.value.code == 10205
    assert_empty(transport, queue)


def test_a_batch_is_all_or_none_when_one_message_is_too_large(transport):
    queue = fresh_queue(transport)
    messages = [OutgoingMessage("fine"), OutgoingMessage(largest_body(transport.limits) + "x"), OutgoingMessage("also")]
    with pytest.raises(MessageTooLarge):
        transport.send_batch(queue, messages)
    assert_empty(transport, queue)
    assert transport.stats(queue).delayed == 0


def test_a_batch_is_all_or_none_when_one_delay_is_bad(transport):
    queue = fresh_queue(transport)
    bad = transport.limits.max_delay_seconds + 1
    with pytest.raises(InvalidDelay):
        transport.send_batch(queue, [OutgoingMessage("fine"), OutgoingMessage("late", delay_seconds=bad)])
    assert_empty(transport, queue)
    assert transport.stats(queue).delayed == 0


@pytest.mark.parametrize("delay", ["max", "zero"])
def test_delays_at_the_bounds_are_accepted(transport, delay):
    queue = fresh_queue(transport)
    seconds = transport.limits.max_delay_seconds if delay == "max" else 0
    transport.send(queue, "bounded", delay_seconds=seconds)
    stats = transport.stats(queue)
    assert stats.ready + stats.delayed == 1


@pytest.mark.parametrize("delay", ["negative", "past-max"])
def test_delays_past_the_bounds_are_rejected_with_10202(transport, delay):
    queue = fresh_queue(transport)
    seconds = -1 if delay == "negative" else transport.limits.max_delay_seconds + 1
    with pytest.raises(InvalidDelay) as raised:
        transport.send(queue, "x", delay_seconds=seconds)
    assert raised.value.code == 10202
    assert transport.stats(queue).delayed == 0


def test_a_retry_delay_past_the_bound_is_rejected_and_settles_nothing(transport):
    from cfq_shim.transport.base import RetryRequest

    queue = fresh_queue(transport)
    transport.send(queue, "x")
    (message,) = pull_until(transport, queue, 1)
    with pytest.raises(InvalidDelay):
        transport.ack(queue, retries=[RetryRequest(message.lease_id, transport.limits.max_delay_seconds + 1)])
    if counts_by_state(transport):
        assert transport.stats(queue).in_flight == 1
    assert transport.ack(queue, acks=[message.lease_id]).ack_count == 1


@pytest.mark.parametrize("batch_size", ["zero", "past-max"])
def test_pull_batch_size_outside_its_bounds_is_rejected(transport, batch_size):
    queue = fresh_queue(transport)
    size = 0 if batch_size == "zero" else transport.limits.max_pull_batch_size + 1
    with pytest.raises(InvalidArgument):
        transport.pull(queue, batch_size=size, visibility_timeout_ms=1_000)


def test_pull_of_the_largest_batch_is_accepted(transport):
    queue = fresh_queue(transport)
    count = transport.limits.max_pull_batch_size
    for start in range(0, count, transport.limits.max_batch_messages):
        transport.send_batch(queue, [OutgoingMessage(f"m{i}") for i in range(start, min(count, start + transport.limits.max_batch_messages))])
    first = transport.pull(queue, batch_size=count, visibility_timeout_ms=2_000)
    rest = pull_until(transport, queue, count - len(first))
    assert len(first) + len(rest) == count


def test_a_lease_longer_than_the_maximum_is_rejected(transport):
    queue = fresh_queue(transport)
    with pytest.raises(InvalidArgument):
        transport.pull(queue, batch_size=1, visibility_timeout_ms=transport.limits.max_visibility_timeout_ms + 1)
