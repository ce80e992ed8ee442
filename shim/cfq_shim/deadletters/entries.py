"""One dead letter as the tools show it: the transport message, its record and its original call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..deadletter import DeadLetter, parse
from ..naming import DEAD_LETTER_SUFFIX
from ..transport.base import LeasedMessage

__all__ = ["DeadLetterEntry", "original_queue_of"]

#: Characters of the arguments shown in a listing.
ARGS_PREVIEW_CHARS = 60


def original_queue_of(dead_letter_queue: str) -> str:
    """``celery-dlq`` -> ``celery``: where a bare body in a dead-letter queue came from."""
    if dead_letter_queue.endswith(DEAD_LETTER_SUFFIX):
        return dead_letter_queue[: -len(DEAD_LETTER_SUFFIX)]
    return dead_letter_queue


@dataclass(frozen=True)
class DeadLetterEntry:
    """A leased (or peeked) message of a dead-letter queue, read as a dead-letter record."""

    message: LeasedMessage
    record: DeadLetter
    #: The dead-letter queue it sits in.
    dead_letter_queue: str

    @classmethod
    def from_message(cls, message: LeasedMessage, dead_letter_queue: str) -> "DeadLetterEntry":
        return cls(message=message, record=parse(message.body), dead_letter_queue=dead_letter_queue)

    @property
    def message_id(self) -> str:
        return self.message.id

    @property
    def task_id(self) -> str | None:
        return self.record.task_id

    @property
    def task(self) -> str | None:
        return self.record.task

    @property
    def queue(self) -> str:
        """The queue the task was consumed from, where a replay sends it back."""
        return self.record.queue or original_queue_of(self.dead_letter_queue)

    @property
    def dead_lettered_at(self) -> datetime | None:
        """When it was dead-lettered: the record's time, else when the message entered the queue."""
        if self.record.dead_lettered_at:
            try:
                moment = datetime.fromisoformat(self.record.dead_lettered_at)
            except ValueError:
                moment = None
            if moment is not None:
                return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        if self.message.timestamp_ms:
            return datetime.fromtimestamp(self.message.timestamp_ms / 1000, tz=timezone.utc)
        return None

    def original_wire(self) -> dict[str, Any] | None:
        """The original envelope as plain JSON (typed values left as their markers), or None."""
        try:
            wire = json.loads(self.record.original_body)
        except ValueError:
            return None
        return wire if isinstance(wire, dict) else None

    def args_preview(self, width: int = ARGS_PREVIEW_CHARS) -> str:
        """``args`` and ``kwargs`` of the original call, shortened to ``width`` characters."""
        wire = self.original_wire()
        if wire is None:
            return "?"
        parts = [json.dumps(a, ensure_ascii=False, default=str) for a in wire.get("args") or []]
        kwargs = wire.get("kwargs") or {}
        if isinstance(kwargs, dict):
            parts += [f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in kwargs.items()]
        text = "(" + ", ".join(parts) + ")"
        return text if len(text) <= width else text[: width - 1] + "…"

    @property
    def exception(self) -> str:
        """``Type: message`` of what ended it, or the reason when there was no exception."""
        if self.record.exc_type:
            return f"{self.record.exc_type}: {self.record.message}" if self.record.message else self.record.exc_type
        return self.record.reason

    def summary(self) -> dict[str, Any]:
        """What ``dlq list --json`` prints for it."""
        moment = self.dead_lettered_at
        return {
            "message_id": self.message_id,
            "task_id": self.task_id,
            "task": self.task,
            "queue": self.queue,
            "dead_letter_queue": self.dead_letter_queue,
            "reason": self.record.reason,
            "exc_type": self.record.exc_type,
            "exception": self.record.message,
            "args": self.args_preview(),
            "attempts": self.record.attempts,
            "hostname": self.record.hostname,
            "dead_lettered_at": moment.isoformat() if moment else None,
        }

    def full(self) -> dict[str, Any]:
        """What ``dlq show --json`` prints: the summary, the traceback and the original envelope."""
        data = self.summary()
        data.pop("args")
        data["traceback"] = self.record.traceback
        data["truncated"] = self.record.truncated
        wire = self.original_wire()
        data["original"] = wire if wire is not None else self.record.original_body
        return data
