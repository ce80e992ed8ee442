"""Contract: peek, purge and stats."""

from __future__ import annotations

import pytest
from contract_support import LEASE_MS, assert_empty, counts_by_state, fresh_queue, pull_one, pull_until

from cfq_shim.transport.base import OutgoingMessage, RetryRequest


def test_peek_shows_messages_without_leasing_them(transport):
    queue = fresh_queue(transport)
    transport.send_batch(queue, [OutgoingMessage("a"), OutgoingMessage("b")])

    peeked = transport.peek(queue, batch_size=10)
    assert sorted(m.body for m in peeked) == ["a", "b"]
    assert all(m.lease_id == "" for m in peeked)
    leased = pull_until(transport, queue, 2)
    assert sorted(m.body for m in leased) == ["a", "b"]
    assert all(m.attempts == 1 for m in leased)


def test_peek_returns_at_most_batch_size(transport):
    queue = fresh_queue(transport)
    transport.send_batch(queue, [OutgoingMessage(f"m{i}") for i in range(5)])
    assert len(transport.peek(queue, batch_size=2)) == 2


def test_purge_deletes_ready_delayed_and_leased_messages(transport, clock):
    queue = fresh_queue(transport)
    transport.send_batch(queue, [OutgoingMessage("ready"), OutgoingMessage("leased"), OutgoingMessage("later", 60)])
    leased = pull_one(transport, queue)

    assert transport.purge(queue) == 3
    assert transport.ack(queue, acks=[leased.lease_id]).ack_count == 0
    clock.advance(60_000 + LEASE_MS)
    assert_empty(transport, queue)
    stats = transport.stats(queue)
    assert (stats.ready, stats.delayed, stats.in_flight) == (0, 0, 0)


def test_stats_count_ready_delayed_and_in_flight(transport, clock):
    if not counts_by_state(transport):
        pytest.skip("this service reports one backlog figure, not ready/delayed/in flight apart")
    queue = fresh_queue(transport)
    transport.send_batch(queue, [OutgoingMessage(f"r{i}") for i in range(3)])
    transport.send(queue, "d", delay_seconds=30)
    in_flight = pull_until(transport, queue, 2, batch_size=2)

    stats = transport.stats(queue)
    assert (stats.queue, stats.ready, stats.delayed, stats.in_flight) == (queue, 1, 1, 2)

    transport.ack(queue, acks=[in_flight[0].lease_id], retries=[RetryRequest(in_flight[1].lease_id, 10)])
    stats = transport.stats(queue)
    assert (stats.ready, stats.delayed, stats.in_flight) == (1, 2, 0)

    clock.advance(30_000)
    stats = transport.stats(queue)
    assert (stats.ready, stats.delayed, stats.in_flight) == (3, 0, 0)


def test_an_expired_lease_counts_as_ready_again(transport, clock):
    if not counts_by_state(transport):
        pytest.skip("this service reports one backlog figure, not ready/delayed/in flight apart")
    queue = fresh_queue(transport)
    transport.send(queue, "x")
    pull_one(transport, queue)
    assert transport.stats(queue).in_flight == 1
    clock.advance(LEASE_MS + 1)
    stats = transport.stats(queue)
    assert (stats.ready, stats.in_flight) == (1, 0)
