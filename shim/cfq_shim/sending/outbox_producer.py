"""The producer of the outbox mode: ``send`` commits to the outbox file (sending/outbox.py) and returns.

Unless the app says ``cfq_outbox_forwarder = "external"`` (only ``cfq-shim -A proj forward`` drains the
file), the first send starts a :class:`~.forwarder.Forwarder` in this process, and every send wakes it.
At interpreter exit (or at ``app.close()``, which closes the transport) the in-process forwarder pushes
what is left for up to :data:`EXIT_DRAIN_SECONDS`; what it could not push stays in the file for the next
forwarder (logged).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Callable, Sequence

from ..limits import DEFAULT_LIMITS, Limits
from ..transport.base import QueueSettings, Transport
from .forwarder import DEFAULT_LAG_WARNING_SECONDS, Forwarder, drain_before_exit
from .outbox import Outbox
from .producer import Producer

__all__ = ["OutboxProducer", "EXIT_DRAIN_SECONDS", "FORWARDER_MODES"]


#: How long interpreter exit waits for the in-process forwarder to push what is left.
EXIT_DRAIN_SECONDS = 10.0
#: ``thread``: a forwarder runs in every producing process; ``external``: only ``cfq-shim forward``.
FORWARDER_MODES = ("thread", "external")


class OutboxProducer(Producer):
    """Sends by committing to ``outbox``; a forwarder pushes through the durable :class:`Producer`."""

    def __init__(
        self,
        transport: Transport,
        *,
        outbox: Outbox,
        limits: Limits = DEFAULT_LIMITS,
        queue_settings: Callable[[str], QueueSettings | None] | None = None,
        forwarder: str = "thread",
        lag_warning_seconds: float = DEFAULT_LAG_WARNING_SECONDS,
    ) -> None:
        if forwarder not in FORWARDER_MODES:
            raise ValueError(f"cfq_outbox_forwarder must be one of {', '.join(FORWARDER_MODES)}, got {forwarder!r}")
        super().__init__(transport, limits=limits, queue_settings=queue_settings)
        self.outbox = outbox
        self.destination = transport.destination
        self.forwarder_mode = forwarder
        self._lag_warning_seconds = lag_warning_seconds
        self._forwarder: Forwarder | None = None
        self._pid = os.getpid()
        self._start_lock = threading.Lock()

    def make_forwarder(self) -> Forwarder:
        """A forwarder for this producer's destination, pushing through the durable producer."""
        durable = Producer(self.transport, limits=self.limits, queue_settings=self._queue_settings)
        return Forwarder(self.outbox, durable, destination=self.destination,
                         lag_warning_seconds=self._lag_warning_seconds)

    @property
    def forwarder(self) -> Forwarder | None:
        """The in-process forwarder, once a send started it."""
        return self._forwarder if self._pid == os.getpid() else None

    def _started_forwarder(self) -> Forwarder | None:
        if self.forwarder_mode != "thread":
            return None
        forwarder = self.forwarder
        if forwarder is None:
            with self._start_lock:
                if self._forwarder is None or self._pid != os.getpid():
                    # First send in this process (a forked child never reuses its parent's threads).
                    self._pid = os.getpid()
                    self._forwarder = self.make_forwarder().start()
                    atexit.register(self._drain_at_exit, self._forwarder)
                forwarder = self._forwarder
        return forwarder

    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        """Commit one message to the outbox (raises :class:`~.outbox.OutboxFull`, writing nothing)."""
        cost = self._check(queue, body) + self.limits.message_metadata_bytes
        self.outbox.add(self.destination, [(queue, body, delay_seconds, cost)])
        forwarder = self._started_forwarder()
        if forwarder is not None:
            forwarder.wake()

    def send_many(self, items: Sequence[tuple[str, str, int]]) -> None:
        """Commit every item in one transaction, all or none (each checked against the size limit first)."""
        metadata = self.limits.message_metadata_bytes
        rows = [(queue, body, delay, self._check(queue, body) + metadata) for queue, body, delay in items]
        self.outbox.add(self.destination, rows)
        forwarder = self._started_forwarder()
        if forwarder is not None:
            forwarder.wake()

    def flush(self, timeout_seconds: float = EXIT_DRAIN_SECONDS) -> None:
        """Wait until this destination's outbox is empty (pushing in this thread when no forwarder runs);
        TimeoutError when messages are left after ``timeout_seconds``."""
        forwarder = self.forwarder or self.make_forwarder()
        left = forwarder.drain(timeout_seconds)
        if left:
            raise TimeoutError(f"{left} message(s) still in the outbox {self.outbox.path} after {timeout_seconds} s")

    def close(self) -> None:
        """Push what is left and stop the in-process forwarder, as at exit: ``app.close()`` closes the
        transport it pushes through next, so the exit handler leaves a closed producer alone."""
        forwarder = self.forwarder
        if forwarder is not None:
            self._forwarder = None
            self._drain(forwarder)

    def _drain_at_exit(self, forwarder: Forwarder) -> None:
        if forwarder is self.forwarder:
            self._drain(forwarder)

    @staticmethod
    def _drain(forwarder: Forwarder) -> None:
        drain_before_exit(forwarder, EXIT_DRAIN_SECONDS,
                          next_forwarder="the next forwarder (a producing process, or `cfq-shim -A APP forward`)")
