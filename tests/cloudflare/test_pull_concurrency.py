"""The worker's puller keeps ``transport.pull_concurrency`` pulls in flight, and rests extra threads when idle."""

from __future__ import annotations

import threading
import time

from cfq_shim.transport.base import LeasedMessage
from cfq_shim.worker.leases import Prefetch
from cfq_shim.worker.puller import Puller

WAIT_SECONDS = 10  # safety net only


class SlowHTTPTransport:
    """Pulls block until released and then take a short round trip; records how many run at once."""

    pull_concurrency = 3

    def __init__(self, *, messages: int) -> None:
        self.left = messages
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def pull(self, queue, *, batch_size, visibility_timeout_ms):
        with self._lock:
            self.in_flight += 1
            self.calls += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.release.wait(WAIT_SECONDS)
        time.sleep(0.02)  # the round trip, during which other pulls may start
        with self._lock:
            self.in_flight -= 1
            taken = min(batch_size, self.left)
            self.left -= taken
        return [LeasedMessage(f"id{self.left + i}", "b", 1, 0, f"l{self.left + i}", queue) for i in range(taken)]


def wait_until(condition) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_pulls_overlap_up_to_the_transports_concurrency():
    transport = SlowHTTPTransport(messages=1_000)
    prefetch = Prefetch(slots=8, max_batch=100)
    puller = Puller(transport, ["q"], prefetch=prefetch, lease_ms_for=lambda q, n: 30_000)
    puller.start()
    try:
        # The first pull is alone (nothing has come back yet, so the extra threads rest) ...
        wait_until(lambda: transport.in_flight == 1)
        transport.release.set()
        # ... and once pulls bring messages, the others join in.
        taken = 0
        while taken < 1_000:
            messages = puller.handoff.get(timeout=WAIT_SECONDS)[1]  # (queue, messages, lease, ...)
            taken += len(messages)
            prefetch.release(len(messages), runtime_seconds=0.0001)
        assert transport.most_in_flight >= 2
        assert transport.most_in_flight <= 3
    finally:
        puller.request_stop()
        while not puller.stopped:
            try:
                puller.handoff.get(timeout=0.05)
            except Exception:  # noqa: BLE001 - empty hand-off while the threads finish
                pass
        puller.join(WAIT_SECONDS)
    assert puller.stopped


def test_an_idle_queue_is_polled_by_one_thread_only():
    transport = SlowHTTPTransport(messages=0)
    transport.release.set()
    prefetch = Prefetch(slots=8, max_batch=100)
    puller = Puller(transport, ["q"], prefetch=prefetch, lease_ms_for=lambda q, n: 30_000,
                    max_idle_backoff_seconds=0.01)
    puller.start()
    try:
        wait_until(lambda: transport.calls >= 20)
        assert transport.most_in_flight == 1
    finally:
        puller.request_stop()
        puller.join(WAIT_SECONDS)
    assert puller.stopped
