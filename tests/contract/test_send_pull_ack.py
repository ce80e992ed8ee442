"""Contract: sending, leasing and settling messages."""

from __future__ import annotations

import threading

import pytest
from contract_support import assert_empty, fresh_queue, is_hex_id, pull_one, pull_until

from cfq_shim.transport.base import OutgoingMessage, QueueNotFound, QueueSettings


def test_a_sent_message_is_pulled_once_and_gone_after_ack(transport):
    queue = fresh_queue(transport)
    transport.send(queue, '{"task": "add", "args": [2, 2]}')

    message = pull_one(transport, queue)
    assert message.body == '{"task": "add", "args": [2, 2]}'
    assert message.attempts == 1
    assert message.queue == queue
    assert is_hex_id(message.id) and is_hex_id(message.lease_id)
    assert_empty(transport, queue)  # leased: not deliverable while the lease holds

    result = transport.ack(queue, acks=[message.lease_id])
    assert (result.ack_count, result.retry_count, dict(result.warnings)) == (1, 0, {})
    stats = transport.stats(queue)
    assert (stats.ready, stats.delayed, stats.in_flight) == (0, 0, 0)


def test_bodies_round_trip_exactly_including_non_ascii(transport):
    queue = fresh_queue(transport)
    bodies = ["", " spaced ", "é€😀", '{"nested": {"k": [1, 2.5, null]}}', "line\nbreak\ttab"]
    for body in bodies:
        transport.send(queue, body)
    leased = pull_until(transport, queue, len(bodies))
    assert sorted(m.body for m in leased) == sorted(bodies)


def test_each_message_gets_its_own_id_and_lease(transport):
    queue = fresh_queue(transport)
    transport.send_batch(queue, [OutgoingMessage(f"m{i}") for i in range(10)])
    leased = pull_until(transport, queue, 10)
    assert len({m.id for m in leased}) == 10
    assert len({m.lease_id for m in leased}) == 10


def test_pull_returns_at_most_batch_size(transport):
    queue = fresh_queue(transport)
    transport.send_batch(queue, [OutgoingMessage(f"m{i}") for i in range(7)])
    first = transport.pull(queue, batch_size=3, visibility_timeout_ms=2_000)
    assert 1 <= len(first) <= 3
    rest = pull_until(transport, queue, 7 - len(first))
    assert sorted(m.body for m in first + rest) == sorted(f"m{i}" for i in range(7))


def test_order_is_not_assumed_but_every_message_arrives(transport):
    queue = fresh_queue(transport)
    bodies = {f"message-{i}" for i in range(50)}
    for body in sorted(bodies):
        transport.send(queue, body)
    leased = pull_until(transport, queue, 50, batch_size=7)
    assert {m.body for m in leased} == bodies
    assert len(leased) == 50


def test_an_empty_queue_answers_at_once_with_nothing(transport):
    queue = fresh_queue(transport)
    assert_empty(transport, queue)


def test_queues_do_not_share_messages(transport):
    first, second = fresh_queue(transport, "contract-a"), fresh_queue(transport, "contract-b")
    transport.send(first, "for a")
    assert_empty(transport, second)
    assert pull_one(transport, first).body == "for a"


def test_sending_to_an_undeclared_queue_raises_queue_not_found(transport):
    with pytest.raises(QueueNotFound) as raised:
        transport.send("contract-never-declared", "x")
    assert raised.value.code == 10104
    with pytest.raises(QueueNotFound):
        transport.pull("contract-never-declared", batch_size=1, visibility_timeout_ms=1_000)


def test_declare_is_idempotent_and_keeps_messages_and_settings(transport):
    settings = QueueSettings(max_retries=2, dead_letter_queue="contract-dlq", retry_delay_seconds=5,
                             visibility_timeout_ms=4_000, batch_size=20)
    queue = fresh_queue(transport, settings=settings)
    transport.send(queue, "kept")
    transport.declare_queue(queue)
    assert transport.queue_settings(queue) == settings
    assert pull_one(transport, queue).body == "kept"


def test_ack_of_an_unknown_lease_warns_instead_of_raising(transport):
    queue = fresh_queue(transport)
    result = transport.ack(queue, acks=["0" * 32])
    assert result.ack_count == 0
    assert set(result.warnings) == {"0" * 32}


def test_a_second_ack_of_the_same_lease_warns(transport):
    queue = fresh_queue(transport)
    transport.send(queue, "once")
    message = pull_one(transport, queue)
    assert transport.ack(queue, acks=[message.lease_id]).ack_count == 1
    again = transport.ack(queue, acks=[message.lease_id])
    assert again.ack_count == 0 and message.lease_id in again.warnings


def test_concurrent_pullers_never_share_a_message(transport):
    queue = fresh_queue(transport)
    for start in range(0, 200, 100):
        transport.send_batch(queue, [OutgoingMessage(f"m{i}") for i in range(start, start + 100)])
    seen: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        for _ in range(200):  # bounded: far more pulls than needed
            batch = transport.pull(queue, batch_size=9, visibility_timeout_ms=60_000)
            if not batch:
                return
            with lock:
                seen.extend(m.id for m in batch)
            transport.ack(queue, acks=[m.lease_id for m in batch])

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 200
    assert len(set(seen)) == 200
