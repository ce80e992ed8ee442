"""Helpers for the contract suite: they use only the Transport API, never a store's internals."""

from __future__ import annotations

import time

from cfq_shim.transport.base import LeasedMessage, QueueSettings, Transport

#: Lease used by the suite: short enough to wait out on real time, long enough not to lapse mid-test.
LEASE_MS = 2_000
#: Safety net for polling loops; a passing test never waits this long.
DEADLINE_SECONDS = 15.0


def counts_by_state(transport: Transport) -> bool:
    """False where the service reports one backlog figure only (Cloudflare's metrics): such a
    transport's stats give the whole backlog as ``ready`` and 0 delayed / in flight."""
    return transport.stats_by_state


def is_hex_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def fresh_queue(transport: Transport, name: str = "contract", settings: QueueSettings | None = None) -> str:
    """A declared, empty queue (a live account may keep queues between runs)."""
    transport.declare_queue(name, settings)
    transport.purge(name)
    return name


def pull_until(
    transport: Transport, queue: str, count: int, *, lease_ms: int = LEASE_MS, batch_size: int = 100
) -> list[LeasedMessage]:
    """Pull until ``count`` messages have been leased (or the deadline passes); returns them all."""
    leased: list[LeasedMessage] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(leased) < count and time.monotonic() < deadline:
        batch = transport.pull(queue, batch_size=min(batch_size, count - len(leased)), visibility_timeout_ms=lease_ms)
        leased.extend(batch)
        if not batch:
            time.sleep(0.01)
    return leased


def pull_one(transport: Transport, queue: str, *, lease_ms: int = LEASE_MS) -> LeasedMessage:
    leased = pull_until(transport, queue, 1, lease_ms=lease_ms)
    assert len(leased) == 1, f"expected one message in {queue!r}, got {leased}"
    return leased[0]


def assert_empty(transport: Transport, queue: str) -> None:
    """Nothing is deliverable now (short polling: one pull answers at once)."""
    assert transport.pull(queue, batch_size=100, visibility_timeout_ms=LEASE_MS) == []
