"""The puller: a thread that leases the next batch while the current one runs.

It claims from :class:`~.leases.Prefetch` as many messages as the slots can take, pulls that many from
the worker's queues in turn (giving back what a pull did not bring), and hands each non-empty batch to the consumer loop through a bounded hand-off
(one batch: the puller never runs ahead of the loop by more than that).

**Empty pulls back off.** Cloudflare answers an empty pull at once and bills it, so when a full round
over the queues finds nothing the puller sleeps: 10 ms after the first empty round, doubling each time
up to 1 s (:data:`IDLE_BACKOFF_INITIAL_SECONDS`, :data:`IDLE_BACKOFF_MAX_SECONDS`), and back to no wait
as soon as a pull returns messages. A transport error is logged and backed off the same way; it never
stops the worker.

**Concurrent pulls.** A transport may say how many pulls are worth having in flight at once
(``pull_concurrency``: over HTTP each pull is a round trip, so CloudflareTransport asks for 8; the
embedded and memory transports say nothing, which means 1). The puller then runs that many threads,
sharing the hand-off and the prefetch. The extra threads rest while pulls come back empty, so an idle
worker polls no more than with one thread.
"""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from typing import Callable, Sequence

from ..transport.base import LeasedMessage, Transport
from .leases import Prefetch

__all__ = ["Puller", "next_backoff", "IDLE_BACKOFF_INITIAL_SECONDS", "IDLE_BACKOFF_MAX_SECONDS"]

logger = logging.getLogger("cfq_shim.worker")

IDLE_BACKOFF_INITIAL_SECONDS = 0.01
IDLE_BACKOFF_MAX_SECONDS = 1.0

def next_backoff(previous_seconds: float, maximum_seconds: float) -> float:
    """The wait after another empty round: 10 ms first, then doubling, capped at ``maximum_seconds``."""
    if previous_seconds <= 0:
        return min(maximum_seconds, IDLE_BACKOFF_INITIAL_SECONDS)
    return min(maximum_seconds, previous_seconds * 2)


#: (queue, messages, lease_ms, time.monotonic() before the pull) as handed to the consumer loop.
Pulled = tuple[str, list[LeasedMessage], int, float]


class Puller:
    def __init__(
        self,
        transport: Transport,
        queues: Sequence[str],
        *,
        prefetch: Prefetch,
        lease_ms_for: Callable[[str, int], int],
        max_idle_backoff_seconds: float = IDLE_BACKOFF_MAX_SECONDS,
        threads: int | None = None,
    ) -> None:
        self._transport = transport
        self._queues = list(queues)
        self._prefetch = prefetch
        self._lease_ms_for = lease_ms_for
        self._max_backoff = max_idle_backoff_seconds
        self.handoff: queue_module.Queue[Pulled] = queue_module.Queue(maxsize=1)
        self._stop = threading.Event()
        self._abandon = False
        # Pull loops: over HTTP one pull is a round trip, so a transport may ask for several
        # (``pull_concurrency``). The extra ones work only while pulls bring messages (see ``_busy``), and
        # the Prefetch lets each have a full pull in flight when tasks are fast.
        if threads is None:
            threads = max(1, int(transport.pull_concurrency))
        self._threads = [
            threading.Thread(target=self._loop, args=(index,), name=f"cfq-shim-puller-{index}", daemon=True)
            for index in range(max(1, threads))
        ]
        prefetch.pullers = len(self._threads)
        #: Set while pulls return messages; the extra pull threads rest while it is clear.
        self._busy = threading.Event()
        self._next_queue = 0
        #: Pull calls made so far (for tests and the benchmark).
        self.pulls = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def request_stop(self, *, abandon: bool = False) -> None:
        """Stop pulling. A pull in flight finishes and its batch still reaches the hand-off, so the
        caller keeps taking from :attr:`handoff` until :attr:`stopped`; with ``abandon`` (cold
        shutdown) a batch nobody takes is left to its lease instead."""
        self._abandon = abandon
        self._stop.set()
        self._prefetch.close()

    def join(self, timeout_seconds: float) -> None:
        for thread in self._threads:
            if threading.current_thread() is not thread and thread.is_alive():
                thread.join(timeout_seconds)

    def set_queues(self, queues: Sequence[str]) -> None:
        """Pull from ``queues`` from now on (a pull in flight finishes on its queue)."""
        if not queues:
            raise ValueError("the worker needs at least one queue")
        self._queues = list(queues)

    @property
    def stopped(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def _loop(self, index: int = 0) -> None:
        while not self._stop.is_set():
            try:
                self._pull_until_stopped(index)
            except Exception:  # noqa: BLE001 - a bug here must not leave the worker without a puller
                logger.exception("The puller failed; restarting it.")
                self._stop.wait(IDLE_BACKOFF_MAX_SECONDS)

    def _pull_until_stopped(self, index: int) -> None:
        backoff = 0.0
        empty_in_a_row = 0
        while not self._stop.is_set():
            if index and not self._busy.is_set():
                self._busy.wait(0.2)  # an extra puller: only while pulls bring messages
                continue
            want = self._prefetch.claim(timeout_seconds=0.2)
            if want <= 0:
                continue
            queues = self._queues  # replaced whole by set_queues (add_consumer / cancel_consumer)
            name = queues[self._next_queue % len(queues)]
            self._next_queue = (self._next_queue + 1) % len(queues)
            lease_ms = self._lease_ms_for(name, want)
            # The lease starts somewhere during the pull: count it from before, to be safe.
            pulled_at = time.monotonic()
            try:
                messages = self._transport.pull(name, batch_size=want, visibility_timeout_ms=lease_ms)
            except Exception as exc:  # noqa: BLE001 - the worker keeps going
                logger.error("Pull from %r failed (%s: %s); retrying.", name, type(exc).__name__, exc)
                messages = []
                empty_in_a_row = len(self._queues)
            self.pulls += 1
            self._prefetch.unclaim(want - len(messages))
            if messages:
                self._busy.set()
                empty_in_a_row = 0
                backoff = 0.0
                self._put((name, messages, lease_ms, pulled_at))
                continue
            self._busy.clear()
            empty_in_a_row += 1
            if empty_in_a_row >= len(self._queues):
                empty_in_a_row = 0
                backoff = next_backoff(backoff, self._max_backoff)
                self._stop.wait(backoff)

    def _put(self, item: Pulled) -> None:
        # The loop drains the hand-off even while shutting down, so this cannot block for long; the
        # messages are never dropped here.
        while True:
            try:
                self.handoff.put(item, timeout=0.2)
                return
            except queue_module.Full:
                if self._abandon:
                    return
                continue
