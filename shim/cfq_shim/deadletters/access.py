"""Reading and settling a dead-letter queue through the transport seam (embedded store and Cloudflare).

Cloudflare cannot list a whole queue without leasing it, so the tools read a dead-letter queue the way
a consumer does: a :class:`Scan` pulls it batch by batch and holds the leases. Whatever the command did
not settle is handed back when the scan closes (retry with delay 0), so the messages are at once
visible again for the next command. Pulling counts a delivery, and a dead-letter queue's own consumer
deletes a message after ``max_retries`` deliveries; so a message that has come close to that bound is
handed back as a fresh copy instead (sent again first, then the leased one acked: at worst a
duplicate, never a loss).

A replay sends each selected message to its original queue with its original body (so the task id,
and with it results and duplicate detection, line up) and acks the dead letter only after that send
was accepted. A crash between the two leaves both: the dead letter comes back when its lease ends, and
the task is in its queue. Nothing is lost; at most a task is replayed twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from ..limits import deliveries_allowed
from ..naming import REPLAY_HEADER, dead_letter_queue_name
from ..transport import validation
from ..transport.base import OutgoingMessage, QueueNotFound, RetryRequest, Transport, TransportError
from .entries import DeadLetterEntry
from .selection import Selection

__all__ = ["DeadLetterQueue", "Scan", "ReplayReport", "DEFAULT_LEASE_SECONDS"]

logger = logging.getLogger("cfq_shim.deadletters")

#: How long a command holds the dead letters it pulled; after a crash they come back after this.
DEFAULT_LEASE_SECONDS = 60
#: Dead letters one command reads at most (a bound on memory and on the time leases are held).
DEFAULT_MAX_MESSAGES = 100_000


class DeadLetterQueue:
    """The dead-letter queue of one app queue, read and settled through ``transport``."""

    def __init__(self, transport: Transport, queue: str, *, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
        self.transport = transport
        #: The app queue whose dead letters these are.
        self.queue = queue
        self.name = dead_letter_queue_name(queue)
        self.lease_ms = min(max(1, lease_seconds) * 1000, transport.limits.max_visibility_timeout_ms)

    def exists(self) -> bool:
        try:
            self.transport.queue_settings(self.name)
        except QueueNotFound:
            return False
        return True

    def depth(self) -> int:
        """Messages held (ready, delayed and leased). Raises QueueNotFound."""
        stats = self.transport.stats(self.name)
        return stats.ready + stats.delayed + stats.in_flight

    def scan(self, *, max_messages: int = DEFAULT_MAX_MESSAGES) -> "Scan":
        return Scan(self, max_messages=max_messages)

    def peek(self, limit: int) -> list[DeadLetterEntry]:
        """Up to ``limit`` (at most one pull batch) dead letters without leasing them, where the
        transport can look without leasing; otherwise an empty list (the dashboard's quick view)."""
        size = max(1, min(limit, self.transport.limits.max_pull_batch_size))
        try:
            messages = self.transport.peek(self.name, batch_size=size)
        except NotImplementedError:
            return []
        return [DeadLetterEntry.from_message(m, self.name) for m in messages]

    def purge(self) -> int:
        """Delete every dead letter; returns how many."""
        return self.transport.purge(self.name)


@dataclass
class ReplayReport:
    """What a replay did (or, in a dry run, would do)."""

    replayed: list[DeadLetterEntry] = field(default_factory=list)
    #: (entry, why) for each selected dead letter that was not replayed; it stays in the queue.
    skipped: list[tuple[DeadLetterEntry, str]] = field(default_factory=list)


class Scan:
    """Leases a dead-letter queue batch by batch; hands back on :meth:`close` what was not settled.

    Use as a context manager. :meth:`batches` yields each newly seen batch of entries; :meth:`remove`
    acks entries (after a replay sent them, or for a purge). A message seen again (its lease lapsed
    while the scan ran) is not yielded twice: its newer lease replaces the old one.
    """

    def __init__(self, dlq: DeadLetterQueue, *, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        self.dlq = dlq
        self.max_messages = max_messages
        self._held: dict[str, DeadLetterEntry] = {}
        self._seen: set[str] = set()
        #: True when the scan stopped at ``max_messages`` before the queue was exhausted.
        self.partial = False

    def __enter__(self) -> "Scan":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batches(self) -> Iterator[list[DeadLetterEntry]]:
        transport = self.dlq.transport
        size = transport.limits.max_pull_batch_size
        while True:
            if len(self._seen) >= self.max_messages:
                self.partial = True
                return
            wanted = min(size, self.max_messages - len(self._seen))
            messages = transport.pull(self.dlq.name, batch_size=wanted, visibility_timeout_ms=self.dlq.lease_ms)
            if not messages:
                return
            fresh = []
            for message in messages:
                entry = DeadLetterEntry.from_message(message, self.dlq.name)
                self._held[message.id] = entry  # a re-delivered one: keep the newer lease
                if message.id not in self._seen:
                    self._seen.add(message.id)
                    fresh.append(entry)
            if not fresh:  # only lapsed leases came back: every message has been seen
                return
            yield fresh

    def entries(self) -> list[DeadLetterEntry]:
        """Every dead letter of the queue (up to ``max_messages``), leased until :meth:`close`."""
        found: list[DeadLetterEntry] = []
        for batch in self.batches():
            found.extend(batch)
        return [self._held.get(e.message_id, e) for e in found]

    def remove(self, entries: Sequence[DeadLetterEntry]) -> None:
        """Ack ``entries`` (delete them from the dead-letter queue)."""
        leases = []
        for entry in entries:
            held = self._held.pop(entry.message_id, entry)
            leases.append(held.message.lease_id)
        if leases:
            result = self.dlq.transport.ack(self.dlq.name, acks=leases)
            for lease, warning in result.warnings.items():
                logger.warning("Dead letter with lease %s not removed: %s", lease, warning)

    def close(self) -> None:
        """Hand back every held dead letter at once (see the module docstring for worn-out ones)."""
        held, self._held = list(self._held.values()), {}
        if not held:
            return
        transport = self.dlq.transport
        try:
            allowed = deliveries_allowed(transport.queue_settings(self.dlq.name).max_retries)
        except TransportError:
            allowed = deliveries_allowed(transport.limits.default_max_retries)
        worn = [e for e in held if e.message.attempts >= allowed - 1]
        fresh = [e for e in held if e.message.attempts < allowed - 1]
        try:
            if worn:
                send_all(transport, self.dlq.name, [e.message.body for e in worn])
                transport.ack(self.dlq.name, acks=[e.message.lease_id for e in worn])
            if fresh:
                transport.ack(self.dlq.name, retries=[RetryRequest(e.message.lease_id, 0) for e in fresh])
        except TransportError as exc:
            logger.warning("Could not hand back %d dead letter(s) at once (%s); they come back when their "
                           "lease of %d s ends.", len(held), exc, self.dlq.lease_ms // 1000)


def send_all(transport: Transport, queue: str, bodies: Sequence[str]) -> None:
    """Send ``bodies`` to ``queue`` in as few bulk pushes as the limits allow."""
    limits = transport.limits
    waiting = deque(OutgoingMessage(body) for body in bodies)
    while waiting:
        batch = validation.take_batch(waiting, lambda m: validation.message_cost(m.body, limits), limits)
        transport.send_batch(queue, batch)


def replay_body(body: str, mark: str, *, reset: bool = False) -> str:
    """``body`` with the replay mark in its envelope's headers (and ``retries`` at 0 with ``reset``);
    every other field is kept as it is (typed values stay in their JSON form)."""
    wire = json.loads(body)
    headers = wire.get("headers")
    wire["headers"] = {**(headers if isinstance(headers, dict) else {}), REPLAY_HEADER: mark}
    if reset:
        wire["retries"] = 0
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":"))


def replay(
    dlq: DeadLetterQueue,
    selection: Selection,
    *,
    reset: bool = False,
    dry_run: bool = False,
    on_replayed: Callable[[DeadLetterEntry], None] | None = None,
) -> ReplayReport:
    """Send the selected dead letters back to their queues, acking each only after its send succeeded."""
    report = ReplayReport()
    mark = uuid.uuid4().hex
    with dlq.scan() as scan:
        for batch in scan.batches():
            chosen = [e for e in batch if selection.matches(e)]
            by_queue: dict[str, list[tuple[DeadLetterEntry, str]]] = {}
            for entry in chosen:
                why = _cannot_replay(entry)
                if why:
                    report.skipped.append((entry, why))
                    continue
                body = replay_body(entry.record.original_body, mark, reset=reset)
                by_queue.setdefault(entry.queue, []).append((entry, body))
            for queue, items in by_queue.items():
                if dry_run:
                    report.replayed.extend(entry for entry, _ in items)
                    continue
                try:
                    send_all(dlq.transport, queue, [body for _, body in items])
                except TransportError as exc:
                    report.skipped.extend((entry, f"sending to {queue!r} failed: {exc}") for entry, _ in items)
                    continue
                # Only now is the copy safe in its queue: the dead letter may go.
                scan.remove([entry for entry, _ in items])
                for entry, _ in items:
                    report.replayed.append(entry)
                    if on_replayed is not None:
                        on_replayed(entry)
    return report


def _cannot_replay(entry: DeadLetterEntry) -> str:
    """Why ``entry`` cannot be sent back (empty when it can)."""
    wire = entry.original_wire()
    if wire is None or not isinstance(wire.get("task"), str) or not isinstance(wire.get("id"), str):
        return "its original body is not a task envelope (nothing could run it)"
    if entry.record.truncated and not entry.record.original_body:
        return "its record was truncated without the original body"
    return ""

