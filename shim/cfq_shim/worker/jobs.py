"""A job: one leased message on its way through the worker (decoded, run by a pool, settled)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..transport.base import LeasedMessage

if TYPE_CHECKING:  # pragma: no cover
    from ..envelope import Envelope
    from ..execution import Delivery
    from .settlement import Batch

__all__ = ["Job", "LeaseLost", "LEASE_LOST", "NotStarted", "NOT_STARTED"]


class LeaseLost:
    """Stands in for an outcome: the job's lease ran out before a slot could start it, so it was not
    run (another worker may have it by now) and is left to be delivered again."""


LEASE_LOST = LeaseLost()


class NotStarted:
    """Stands in for an outcome: a warm shutdown began while the job waited in a pool process's hand-off
    (prefork), so it was not run and goes back to its queue at once, like the jobs still waiting locally."""


NOT_STARTED = NotStarted()


@dataclass(eq=False)
class Job:
    message: LeasedMessage
    batch: "Batch"
    hostname: str
    #: None when the body could not be decoded (the job is then dead-lettered without running).
    envelope: "Envelope | None" = None
    delivery: "Delivery | None" = None
    task: Any = None
    soft_time_limit_seconds: float | None = None
    time_limit_seconds: float | None = None
    #: The message was acked before running (``acks_late=False`` set on the task).
    acked_early: bool = False
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    #: Set when ``revoke(terminate=True)`` sent this signal to the process running the task.
    terminate_signal: int | None = None
    terminate_requested_at: float | None = None

    def lease_ran_out(self) -> bool:
        return time.monotonic() >= self.batch.lease_deadline

    @property
    def label(self) -> str:
        """``proj.add[6f1c...]``, as Celery writes a task in its logs."""
        if self.envelope is None:
            return f"<undecodable message {self.message.id}>"
        return f"{self.envelope.task}[{self.envelope.id}]"
