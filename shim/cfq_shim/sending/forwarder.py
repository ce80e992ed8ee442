"""The outbox forwarder: claims committed messages from an outbox file and bulk-pushes them.

It runs as threads of the producing process (started on the first ``.delay()``, woken by each one) and
as ``cfq-shim -A proj forward`` (for web servers with many processes, or to keep forwarding while no
producer runs). Any number of forwarders may drain one outbox file at once: each claims disjoint batches.

Each pusher thread loops: claim the oldest messages of one queue (at most ``max_batch_messages`` and
``max_batch_bytes``; within the queue's per-second budget, counted machine-wide in the file), push them
as one bulk push with the durable producer's ``send_batch`` (the claim is the batch, cut by the same
limits as every other send), and delete them once the queue accepted them. A push that fails leaves them in the outbox:

- 429 (Cloudflare's 5,000 messages/s per queue, error 10250): retried after a second;
- any other error (an outage, a timeout, a missing queue): retried with exponential back-off from
  0.5 s to 30 s, the error logged (warning, then error once it repeats), and kept in the file so a
  producer that finds the outbox full can say why.

Nothing is ever dropped by the forwarder. While the oldest waiting message is older than
``lag_warning_seconds``, it logs a warning every 30 s with the depth and the last error.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Callable, Protocol, Sequence

from ..transport.base import Overloaded, TransportError
from .outbox import Claim, OutboxStats
from .producer import Producer

__all__ = ["Forwarder", "ForwardedOutbox", "DEFAULT_LINGER_SECONDS", "DEFAULT_LAG_WARNING_SECONDS", "drain_before_exit"]

logger = logging.getLogger("cfq_shim.outbox")

#: Pushes in flight at once per forwarder (4 x 100 messages per 50 ms round trip: 8,000/s).
DEFAULT_MAX_IN_FLIGHT = 4
#: A batch smaller than a full one waits this long for company (so pushes carry full batches) ...
DEFAULT_LINGER_SECONDS = 0.02
#: ... or this long while another push of this forwarder is in flight (the next batch fills meanwhile).
_BUSY_LINGER_SECONDS = 0.25
DEFAULT_LAG_WARNING_SECONDS = 30.0
_IDLE_POLL_SECONDS = 0.5
_RATE_LIMITED_BACKOFF_MS = 1_000
_BACKOFF_MIN_MS = 500
_BACKOFF_MAX_MS = 30_000
_WARN_EVERY_SECONDS = 30.0


class ForwardedOutbox(Protocol):
    """What a forwarder drains: the local outbox file (:class:`~.outbox.Outbox`) and the Django
    transactional outbox's table (``cfq_shim.django.outbox.store.DatabaseOutbox``)."""

    path: str

    def claim(self, destination: str, owner: str, *, max_messages: int, max_bytes: int,
              per_second: int | None = None, min_age_ms: int = 0) -> Claim | None: ...

    def delete(self, seqs: Sequence[int], *, destination: str) -> None: ...

    def release(self, seqs: Sequence[int], *, destination: str, backoff_ms: int, error: str) -> None: ...

    def stats(self, destination: str | None = None) -> OutboxStats: ...

    def depth(self, destination: str) -> int: ...


class Forwarder:
    """Pushes one destination's messages from ``outbox`` through ``producer`` (a durable Producer)."""

    def __init__(
        self,
        outbox: "ForwardedOutbox",
        producer: Producer,
        *,
        destination: str,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
        lag_warning_seconds: float = DEFAULT_LAG_WARNING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        idle_poll_seconds: float = _IDLE_POLL_SECONDS,
    ) -> None:
        self.outbox = outbox
        self.producer = producer
        self.destination = destination
        self.limits = producer.limits
        self.max_in_flight = max(1, max_in_flight)
        self.linger_seconds = linger_seconds
        self.lag_warning_seconds = lag_warning_seconds
        self._clock = clock
        #: How long an idle pusher waits for a wake-up before looking again (a database outbox, woken
        #: when each transaction commits, looks less often than the file).
        self.idle_poll_seconds = idle_poll_seconds
        #: Claims are tied to this process: another forwarder takes them over once it is gone.
        self.owner = f"{os.getpid()}:{os.urandom(6).hex()}"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._in_flight = 0
        self._last_lag_warning = 0.0
        self._last_lag_check = 0.0
        self._last_unusable_report = -math.inf
        #: Pushes made and messages pushed (for benchmarks and tests).
        self.pushes = 0
        self.pushed = 0

    # -- running ---------------------------------------------------------------------------------------
    def start(self) -> "Forwarder":
        with self._lock:
            if not self._threads:
                for index in range(self.max_in_flight):
                    thread = threading.Thread(target=self._loop, name=f"cfq-outbox-{index + 1}", daemon=True)
                    self._threads.append(thread)
                    thread.start()
        return self

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopping.is_set()

    def wake(self) -> None:
        """New messages were committed: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout_seconds: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        deadline = self._clock() + timeout_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - self._clock()))

    def drain(self, timeout_seconds: float) -> int:
        """Push until this destination's outbox is empty; return how many messages are left (0 when
        drained in time). Runs in the calling thread when no pusher thread runs."""
        deadline = self._clock() + timeout_seconds
        while True:
            left = self.outbox.depth(self.destination)
            if not left or self._clock() >= deadline:
                return left
            if self.running:
                self._wake.set()
                time.sleep(0.005)
            elif not self.forward_once(linger=False):
                time.sleep(0.05)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                pushed = self.forward_once()
            except TransportError as exc:  # the outbox unusable (its database down, a locked file): no bug
                self._report_unusable(exc)
                pushed = False
            except Exception:  # noqa: BLE001 - a forwarder thread must survive a bug or a locked file
                logger.exception("The outbox forwarder failed; retrying in %.1f s", self.idle_poll_seconds)
                pushed = False
            if pushed:
                continue
            self._wake.wait(self.idle_poll_seconds)
            self._wake.clear()
            if self.linger_seconds and not self._stopping.is_set():
                time.sleep(self.linger_seconds)

    def _report_unusable(self, exc: TransportError) -> None:
        """One line (no traceback), at most every 30 s while it lasts."""
        now = self._clock()
        with self._lock:
            if now - self._last_unusable_report < _WARN_EVERY_SECONDS:
                return
            self._last_unusable_report = now
        logger.error("The outbox forwarder cannot use the outbox: %s; retrying every %.1f s.", exc,
                     self.idle_poll_seconds)

    # -- one batch -------------------------------------------------------------------------------------
    def forward_once(self, *, linger: bool = True) -> bool:
        """Claim and push one batch; False when nothing could be claimed."""
        self._warn_if_lagging()
        linger_seconds = 0.0
        if linger:
            linger_seconds = max(self.linger_seconds, _BUSY_LINGER_SECONDS) if self._in_flight else self.linger_seconds
        claim = self.outbox.claim(
            self.destination, self.owner,
            max_messages=self.limits.max_batch_messages, max_bytes=self.limits.max_batch_bytes,
            per_second=self.limits.max_messages_per_second, min_age_ms=int(linger_seconds * 1000),
        )
        if claim is None:
            return False
        with self._lock:
            self._in_flight += 1
        try:
            self._push(claim)
        finally:
            with self._lock:
                self._in_flight -= 1
        return True

    def _push(self, claim: Claim) -> None:
        now_ms = time.time_ns() // 1_000_000
        items = [(m.body, max(0, math.ceil((m.deliver_at_ms - now_ms) / 1000))) for m in claim.messages]
        seqs = [m.seq for m in claim.messages]
        try:
            self.producer.send_batch(claim.queue, items)
        except Overloaded as exc:
            logger.info("Queue %r is rate-limited (%s); %d outbox message(s) wait %d ms.", claim.queue, exc,
                        len(seqs), _RATE_LIMITED_BACKOFF_MS)
            self.outbox.release(seqs, destination=self.destination, backoff_ms=_RATE_LIMITED_BACKOFF_MS,
                                error=f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - nothing is dropped: the messages stay in the outbox
            failures = self._failures.get(claim.queue, 0) + 1
            self._failures[claim.queue] = failures
            backoff_ms = min(_BACKOFF_MAX_MS, _BACKOFF_MIN_MS * 2 ** (failures - 1))
            log = logger.warning if failures < 3 else logger.error
            if not isinstance(exc, TransportError):
                log = logger.exception
            log("Could not push %d outbox message(s) to %r (%s: %s); they stay in %s and are retried in %.1f s.",
                len(seqs), claim.queue, type(exc).__name__, exc, self.outbox.path, backoff_ms / 1000)
            self.outbox.release(seqs, destination=self.destination, backoff_ms=backoff_ms,
                                error=f"{type(exc).__name__}: {exc}")
            return
        self._failures.pop(claim.queue, None)
        self.outbox.delete(seqs, destination=self.destination)
        with self._lock:
            self.pushes += 1
            self.pushed += len(seqs)

    def _warn_if_lagging(self) -> None:
        now = self._clock()
        if not self.lag_warning_seconds or now - self._last_lag_check < 5.0:
            return
        self._last_lag_check = now
        stats = self.outbox.stats(self.destination)
        if stats.oldest_age_seconds < self.lag_warning_seconds or now - self._last_lag_warning < _WARN_EVERY_SECONDS:
            return
        self._last_lag_warning = now
        logger.warning(
            "The outbox %s lags: %d message(s) waiting, the oldest for %.0f s%s.", stats.path, stats.depth,
            stats.oldest_age_seconds, f" (last push error: {stats.last_error})" if stats.last_error else "",
        )


def drain_before_exit(forwarder: Forwarder, timeout_seconds: float, *, next_forwarder: str) -> None:
    """At interpreter exit: push what is left for up to ``timeout_seconds``, stop, and log what stays
    (``next_forwarder`` says who sends it). Never raises."""
    try:
        left = forwarder.drain(timeout_seconds)
    except Exception as exc:  # noqa: BLE001 - exiting: report, never raise
        logger.error("At exit: could not drain the outbox %s (%s)", forwarder.outbox.path, exc)
        return
    forwarder.stop(1.0)
    if left:
        logger.warning("At exit: %d message(s) are still in the outbox %s; %s sends them.",
                       left, forwarder.outbox.path, next_forwarder)
