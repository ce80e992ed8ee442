"""Contract: delays, leases, redelivery, retries, max_retries and dead letters.

Time passes through ``clock.advance`` (instant on the embedded store, real sleeps on a live account).
"""

from __future__ import annotations

from contract_support import LEASE_MS, assert_empty, counts_by_state, fresh_queue, pull_one, pull_until

from cfq_shim.limits import deliveries_allowed
from cfq_shim.transport.base import QueueSettings, RetryRequest


def test_a_delayed_message_waits_for_its_delay(transport, clock):
    queue = fresh_queue(transport)
    transport.send(queue, "later", delay_seconds=2)
    assert_empty(transport, queue)
    if counts_by_state(transport):
        assert transport.stats(queue).delayed == 1

    clock.advance(2_000)
    message = pull_one(transport, queue)
    assert (message.body, message.attempts) == ("later", 1)


def test_an_unacked_message_is_redelivered_after_its_lease_with_attempts_counting_it(transport, clock):
    queue = fresh_queue(transport)
    transport.send(queue, "flaky")
    first = pull_one(transport, queue)
    assert_empty(transport, queue)

    clock.advance(LEASE_MS + 1)
    second = pull_one(transport, queue)
    assert second.id == first.id
    assert second.attempts == 2
    assert second.lease_id != first.lease_id


def test_the_old_lease_is_stale_once_redelivered_and_the_new_one_settles(transport, clock):
    queue = fresh_queue(transport)
    transport.send(queue, "x")
    first = pull_one(transport, queue)
    clock.advance(LEASE_MS + 1)
    second = pull_one(transport, queue)

    stale = transport.ack(queue, acks=[first.lease_id])
    assert stale.ack_count == 0 and first.lease_id in stale.warnings
    assert transport.ack(queue, acks=[second.lease_id]).ack_count == 1
    clock.advance(LEASE_MS + 1)
    assert_empty(transport, queue)


def test_a_late_ack_of_an_expired_lease_not_yet_redelivered_is_accepted(transport, clock):
    queue = fresh_queue(transport)
    transport.send(queue, "slow task")
    message = pull_one(transport, queue)
    clock.advance(LEASE_MS + 1)

    result = transport.ack(queue, acks=[message.lease_id])
    assert (result.ack_count, dict(result.warnings)) == (1, {})
    assert_empty(transport, queue)


def test_a_retry_with_delay_is_delivered_again_after_the_delay(transport, clock):
    queue = fresh_queue(transport)
    transport.send(queue, "again")
    first = pull_one(transport, queue)

    result = transport.ack(queue, retries=[RetryRequest(first.lease_id, delay_seconds=2)])
    assert (result.ack_count, result.retry_count) == (0, 1)
    if counts_by_state(transport):
        assert transport.stats(queue).delayed == 1
    assert_empty(transport, queue)

    clock.advance(2_000)
    second = pull_one(transport, queue)
    assert (second.id, second.body, second.attempts) == (first.id, "again", 2)


def test_a_retry_without_delay_is_deliverable_at_once(transport):
    queue = fresh_queue(transport)
    transport.send(queue, "now")
    first = pull_one(transport, queue)
    transport.ack(queue, retries=[RetryRequest(first.lease_id)])
    assert pull_one(transport, queue).attempts == 2


def test_acks_and_retries_settle_in_one_call_with_warnings_for_unknown_leases(transport, clock):
    queue = fresh_queue(transport)
    for body in ("ok-1", "ok-2", "retry-me"):
        transport.send(queue, body)
    leased = {m.body: m for m in pull_until(transport, queue, 3)}
    unknown = "f" * 32

    result = transport.ack(
        queue,
        acks=[leased["ok-1"].lease_id, leased["ok-2"].lease_id, unknown],
        retries=[RetryRequest(leased["retry-me"].lease_id, delay_seconds=0)],
    )
    assert (result.ack_count, result.retry_count) == (2, 1)
    assert set(result.warnings) == {unknown}
    again = pull_one(transport, queue)
    assert (again.body, again.attempts) == ("retry-me", 2)


def retry_until_gone(transport, queue: str, *, delay_seconds: int = 0) -> list[int]:
    """Retry every delivery of the queue's one message until none comes; the attempts seen."""
    attempts = []
    for _ in range(20):  # bounded far above any max_retries the suite uses
        leased = transport.pull(queue, batch_size=1, visibility_timeout_ms=LEASE_MS)
        if not leased:
            break
        attempts.append(leased[0].attempts)
        transport.ack(queue, retries=[RetryRequest(leased[0].lease_id, delay_seconds=delay_seconds)])
    return attempts


def test_after_max_retries_a_message_goes_to_the_dead_letter_queue(transport):
    dlq = fresh_queue(transport, "contract-dead")
    queue = fresh_queue(transport, settings=QueueSettings(max_retries=2, dead_letter_queue=dlq))
    transport.send(queue, "poison")

    assert retry_until_gone(transport, queue) == list(range(1, deliveries_allowed(2) + 1))
    dead = pull_one(transport, dlq)
    assert dead.body == "poison"
    assert transport.stats(queue).dead_letters == 1


def test_expired_leases_count_towards_max_retries(transport, clock):
    dlq = fresh_queue(transport, "contract-dead")
    queue = fresh_queue(transport, settings=QueueSettings(max_retries=1, dead_letter_queue=dlq))
    transport.send(queue, "crashes its worker")

    attempts = []
    for _ in range(deliveries_allowed(1)):
        attempts.append(pull_one(transport, queue).attempts)
        clock.advance(LEASE_MS + 1)  # the worker died: the lease lapses
    assert attempts == [1, 2]
    assert_empty(transport, queue)
    assert pull_one(transport, dlq).body == "crashes its worker"


def test_without_a_dead_letter_queue_an_exhausted_message_is_deleted(transport):
    queue = fresh_queue(transport, settings=QueueSettings(max_retries=0, dead_letter_queue=None))
    transport.send(queue, "doomed")

    assert retry_until_gone(transport, queue) == [1]
    stats = transport.stats(queue)
    assert (stats.ready, stats.delayed, stats.in_flight, stats.dead_letters) == (0, 0, 0, 0)


def test_messages_that_succeed_are_never_dead_lettered(transport):
    dlq = fresh_queue(transport, "contract-dead")
    queue = fresh_queue(transport, settings=QueueSettings(max_retries=0, dead_letter_queue=dlq))
    transport.send(queue, "fine")
    transport.ack(queue, acks=[pull_one(transport, queue).lease_id])
    assert_empty(transport, dlq)
    assert transport.stats(queue).dead_letters == 0
