"""Commands for workers, numbered in the shared store: the broadcast channel Cloudflare Queues lacks.

A command gets the next number from a set in the store (adding a distinct member is atomic and returns
the set's size, so two clients never share a number), then is stored under that number as a small
record with an expiry. Each worker keeps the last number it has handled, reads the ones after it on
every heartbeat, acts on those addressed to it (or to everyone), and reports the number it reached in
its heartbeat, so a client that asked for a reply can tell when every live worker has acted.

A number whose record never appears (its client died between the two writes) is skipped after
:data:`GAP_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from ..results import ResultBackend

__all__ = ["Command", "Mailbox", "COMMAND_EXPIRES_SECONDS", "GAP_TIMEOUT_SECONDS"]

_SEQUENCE_KEY = "cfq-control-sequence"
#: A member that is always in the sequence set, so adding it again reads the set's size.
_PROBE = "probe"
_RECORD_PREFIX = "cfq-control-command-"
#: A command not handled within this time is dropped (a worker that starts later never sees it).
COMMAND_EXPIRES_SECONDS = 600.0
#: How long a worker waits for a numbered command whose record has not appeared.
GAP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Command:
    number: int
    name: str
    arguments: dict[str, Any]
    #: Worker names it is for; None: every worker.
    destination: tuple[str, ...] | None

    def is_for(self, worker: str) -> bool:
        return self.destination is None or worker in self.destination


class Mailbox:
    """Numbered commands in ``store``."""

    def __init__(self, store: ResultBackend) -> None:
        self.store = store

    def last_number(self) -> int:
        """The number of the newest command sent so far (0: none yet)."""
        return self.store.add_to_set(_SEQUENCE_KEY, _PROBE) - 1

    def send(self, name: str, arguments: dict[str, Any], destination: Sequence[str] | None = None) -> int:
        """Store a command for ``destination`` (None: every worker); returns its number."""
        self.store.add_to_set(_SEQUENCE_KEY, _PROBE)
        number = self.store.add_to_set(_SEQUENCE_KEY, uuid.uuid4().hex) - 1
        record = {"name": name, "arguments": arguments,
                  "destination": list(destination) if destination is not None else None, "sent_at": time.time()}
        self.store.store_meta(f"{_RECORD_PREFIX}{number}", record, expires_seconds=COMMAND_EXPIRES_SECONDS)
        return number

    def read_after(self, number: int, *, waited_since: dict[int, float]) -> tuple[list[Command], int]:
        """The commands numbered after ``number`` that can be read now, and the number reached.

        ``waited_since`` remembers, across calls, since when a missing record has been waited for."""
        last = self.last_number()
        if last <= number:
            return [], number
        wanted = list(range(number + 1, last + 1))
        records = self.store.get_many_meta([f"{_RECORD_PREFIX}{n}" for n in wanted])
        commands: list[Command] = []
        reached = number
        now = time.monotonic()
        for n in wanted:
            record = records.get(f"{_RECORD_PREFIX}{n}")
            if record is None:
                first = waited_since.setdefault(n, now)
                if now - first < GAP_TIMEOUT_SECONDS:
                    break  # its client is still writing it: read it (and what follows) next time
                waited_since.pop(n, None)
                reached = n
                continue
            waited_since.pop(n, None)
            destination = record.get("destination")
            commands.append(Command(n, str(record.get("name")), dict(record.get("arguments") or {}),
                                    tuple(destination) if destination is not None else None))
            reached = n
        return commands, reached
