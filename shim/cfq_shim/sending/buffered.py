"""The opt-in buffered producer: ``.delay()`` returns at once, a background flusher pushes in bulk.

Opt in with ``cloudflare://ACCOUNT?producer=buffered``. The default (durable, cfq_shim/coalesce.py)
returns from ``.delay()`` only after Cloudflare accepted the message; this mode returns as soon as the
message is in this process's memory, which makes a single thread's ``.delay()`` loop as fast as the
bulk path instead of one round trip per call. What it costs, in full (docs/cloudflare.md):

- ``.delay()`` returning means "queued in this process", not "accepted by Cloudflare";
- messages still in the buffer are lost if the process dies (kill -9, power cut, OOM). At normal
  interpreter exit the buffer is flushed (up to :data:`EXIT_FLUSH_SECONDS`);
- a push that fails after the SDK's retries is logged (error level) and its messages are kept in
  :attr:`BufferedSender.unsent`; :meth:`BufferedSender.flush` waits for the buffer to empty and raises
  :class:`UnsentMessages` naming how many could not be sent and why. Call it where losing a task
  matters (end of a request, of a batch job).

Up to ``max_in_flight`` flusher threads each take whole batches (``Limits.max_batch_messages`` /
``max_batch_bytes``) from the buffer, per queue.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from operator import itemgetter
from typing import Callable, Sequence

from ..limits import DEFAULT_LIMITS, Limits
from ..transport.base import OutgoingMessage, TransportError
from ..transport.validation import take_batch

__all__ = ["BufferedSender", "UnsentMessages", "EXIT_FLUSH_SECONDS"]

logger = logging.getLogger("cfq_shim.producer")

#: How long interpreter exit waits for the buffer to drain.
EXIT_FLUSH_SECONDS = 30.0


class UnsentMessages(TransportError):
    """Buffered messages that could not be pushed; ``count`` of them, kept in ``BufferedSender.unsent``."""

    def __init__(self, message: str, *, count: int) -> None:
        super().__init__(message)
        self.count = count


class BufferedSender:
    """A buffer of ``(queue, message, cost)`` drained by background threads. Thread-safe."""

    def __init__(self, send_batch: Callable[[str, Sequence[OutgoingMessage]], None], *,
                 limits: Limits = DEFAULT_LIMITS, max_in_flight: int = 4) -> None:
        self._send_batch = send_batch
        self.limits = limits
        self.max_in_flight = max(1, max_in_flight)
        self._cond = threading.Condition()
        self._pending: dict[str, deque[tuple[OutgoingMessage, int]]] = {}
        self._pending_count = 0
        self._in_flight = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        #: ``(queue, message)`` pairs whose push failed, with the error of each failure in :attr:`errors`.
        self.unsent: list[tuple[str, OutgoingMessage]] = []
        self.errors: list[BaseException] = []
        self._reported = 0
        self._atexit_registered = False

    def send(self, queue: str, message: OutgoingMessage, *, cost: int) -> None:
        """Queue ``message`` for a push and return at once."""
        with self._cond:
            if self._closed:
                raise TransportError("the buffered producer is closed")
            self._pending.setdefault(queue, deque()).append((message, cost))
            self._pending_count += 1
            if len(self._threads) < self.max_in_flight:
                self._start_flusher()
            self._cond.notify()

    def _start_flusher(self) -> None:
        thread = threading.Thread(target=self._flush_loop, name=f"cfq-buffered-{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        thread.start()
        if not self._atexit_registered:
            self._atexit_registered = True
            atexit.register(self._flush_at_exit)

    def _take(self) -> tuple[str, list[tuple[OutgoingMessage, int]]] | None:
        """A whole batch of one queue (the fullest), or None. Called with the lock held."""
        if not self._pending_count:
            return None
        queue = max(self._pending, key=lambda name: len(self._pending[name]))
        batch = take_batch(self._pending[queue], itemgetter(1), self.limits)
        self._pending_count -= len(batch)
        return queue, batch

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                taken = self._take()
                while taken is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    taken = self._take()
                self._in_flight += 1
            queue, batch = taken
            try:
                self._send_batch(queue, [message for message, _ in batch])
            except Exception as exc:  # noqa: BLE001 - recorded for flush(); the flusher keeps going
                logger.error("Could not push %d buffered message(s) to %r (%s: %s); flush() will report them.",
                             len(batch), queue, type(exc).__name__, exc)
                with self._cond:
                    self.unsent.extend((queue, message) for message, _ in batch)
                    self.errors.append(exc)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def flush(self, timeout_seconds: float = EXIT_FLUSH_SECONDS) -> None:
        """Wait until every buffered message was pushed or failed. Raises :class:`UnsentMessages` for
        the messages that failed since the last flush, and TimeoutError if the buffer did not drain."""
        deadline = time.monotonic() + timeout_seconds
        with self._cond:
            while self._pending_count or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._pending_count + self._in_flight} buffered push(es) still "
                                       f"pending after {timeout_seconds} s")
                self._cond.wait(remaining)
            failed = len(self.unsent) - self._reported
            self._reported = len(self.unsent)
            last_error = self.errors[-1] if self.errors else None
        if failed:
            raise UnsentMessages(f"{failed} buffered message(s) could not be pushed (last error: {last_error}); "
                                 "they are in BufferedSender.unsent", count=failed)

    def close(self, timeout_seconds: float = EXIT_FLUSH_SECONDS) -> None:
        """Flush, then stop the flusher threads."""
        try:
            self.flush(timeout_seconds)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _flush_at_exit(self) -> None:
        try:
            self.close(EXIT_FLUSH_SECONDS)
        except (TransportError, TimeoutError) as exc:
            logger.error("At exit: %s", exc)
