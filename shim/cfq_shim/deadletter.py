"""The dead-letter record: what the worker writes to ``<queue>-dlq`` when a message cannot be run.

A record is a JSON object (sent as text, like every message)::

    {
      "v": 1,
      "kind": "cfq_shim.dead_letter",
      "reason": "failed",               # one of REASONS
      "task": "proj.add",               # None when the body could not be decoded
      "task_id": "6f1c...",             # None when the body could not be decoded
      "exc_type": "ZeroDivisionError",  # "" when there was no exception
      "message": "division by zero",
      "traceback": "Traceback (most recent call last): ...",
      "queue": "celery",                # where the message was consumed
      "attempts": 4,                    # deliveries of the message, this one included
      "hostname": "worker1@host",
      "dead_lettered_at": "2026-11-27T23:01:02.345678+00:00",
      "original_body": "{...}"          # the message body exactly as it was received
    }

``original_body`` is kept byte for byte so a message can be sent again after a fix. When a record would
exceed the message size limit, the traceback and then the message are shortened (marked by
``"truncated": true``); if even the original body alone leaves no room, the worker sends the original
body unchanged instead of a record, so the message itself is never lost. :func:`parse` reads both.
A message that the transport itself moved to the dead-letter queue after ``max_retries`` expired leases
(a worker killed while running it, every time) is also an unchanged original body.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "RECORD_VERSION",
    "REASONS",
    "DeadLetter",
    "encode_record",
    "parse",
]

RECORD_VERSION = 1
_KIND = "cfq_shim.dead_letter"

#: Why a message was dead-lettered.
REASONS = {
    "failed": "the task raised and has no retry left (or no retry policy)",
    "max-retries-exceeded": "the task asked for a retry after its last allowed try",
    "undecodable": "the body is not a cfq_shim envelope",
    "unknown-task": "no task of that name is registered in the worker's application",
    "rejected": "the task raised Reject(requeue=False)",
    "time-limit": "the task ran past its hard time limit and its process was ended",
    "worker-lost": "the process running the task died",
    "delivery-limit": "the transport moved the message after its last delivery (no record was written)",
}

#: Characters of a traceback kept before shortening the rest away, when a record is too large.
_TRACEBACK_TAIL_CHARS = 4000


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter record (see the module docstring for the JSON form)."""

    reason: str
    task: str | None
    task_id: str | None
    exc_type: str
    message: str
    traceback: str
    queue: str
    attempts: int
    hostname: str
    dead_lettered_at: str
    original_body: str
    truncated: bool = False
    v: int = RECORD_VERSION

    @classmethod
    def create(
        cls,
        *,
        reason: str,
        original_body: str,
        queue: str,
        attempts: int,
        hostname: str,
        task: str | None = None,
        task_id: str | None = None,
        exc_type: str = "",
        message: str = "",
        traceback: str = "",
    ) -> "DeadLetter":
        if reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {reason!r}; expected one of {sorted(REASONS)}")
        return cls(
            reason=reason,
            task=task,
            task_id=task_id,
            exc_type=exc_type,
            message=message,
            traceback=traceback,
            queue=queue,
            attempts=attempts,
            hostname=hostname,
            dead_lettered_at=datetime.now(timezone.utc).isoformat(),
            original_body=original_body,
        )


def _dumps(record: DeadLetter) -> str:
    data: dict[str, Any] = {"v": record.v, "kind": _KIND}
    data.update({k: v for k, v in asdict(record).items() if k not in ("v", "truncated")})
    if record.truncated:
        data["truncated"] = True
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def encode_record(record: DeadLetter, *, max_body_bytes: int) -> str:
    """The body to send for ``record``: the record as JSON, shortened to fit ``max_body_bytes``, or the
    original body unchanged when no record can carry it."""
    body = _dumps(record)
    if len(body.encode()) <= max_body_bytes:
        return body
    shorter = DeadLetter(
        **{
            **asdict(record),
            "traceback": "..." + record.traceback[-_TRACEBACK_TAIL_CHARS:],
            "message": record.message[:1000],
            "truncated": True,
        }
    )
    body = _dumps(shorter)
    if len(body.encode()) <= max_body_bytes:
        return body
    bare = DeadLetter(**{**asdict(shorter), "traceback": "", "message": record.message[:200]})
    body = _dumps(bare)
    if len(body.encode()) <= max_body_bytes:
        return body
    return record.original_body


def parse(body: str) -> DeadLetter:
    """Read a message from a dead-letter queue: a record, or an original body that the transport (or a
    worker, when a record could not fit) put there unchanged (reason ``delivery-limit``)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("kind") == _KIND:
        return DeadLetter(
            reason=str(data.get("reason", "")),
            task=data.get("task"),
            task_id=data.get("task_id"),
            exc_type=str(data.get("exc_type", "")),
            message=str(data.get("message", "")),
            traceback=str(data.get("traceback", "")),
            queue=str(data.get("queue", "")),
            attempts=int(data.get("attempts", 0)),
            hostname=str(data.get("hostname", "")),
            dead_lettered_at=str(data.get("dead_lettered_at", "")),
            original_body=str(data.get("original_body", "")),
            truncated=bool(data.get("truncated", False)),
            v=int(data.get("v", RECORD_VERSION)),
        )
    task = data.get("task") if isinstance(data, dict) else None
    task_id = data.get("id") if isinstance(data, dict) else None
    return DeadLetter(
        reason="delivery-limit",
        task=task if isinstance(task, str) else None,
        task_id=task_id if isinstance(task_id, str) else None,
        exc_type="",
        message="",
        traceback="",
        queue="",
        attempts=0,
        hostname="",
        dead_lettered_at="",
        original_body=body,
    )
