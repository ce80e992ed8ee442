"""What the worker does with a message once it knows how its task ended: Outcome -> Settlement.

=====================  =============================================================================
outcome                settlement
=====================  =============================================================================
Succeeded, Ignored     ack
Expired                ack (the task is recorded as revoked by ``execute``)
Revoked                ack (revoked through ``app.control``; the worker records it as REVOKED)
RetryLater             retry the same message after the delay when the body is unchanged, the delay
                       fits ``limits.max_delay_seconds`` and the queue's ``max_retries`` still allows
                       another delivery; otherwise send the new envelope (retries + 1) and ack this one
Failed                 dead-letter record to ``<queue>-dlq``, then ack
Rejected(requeue)      retry after 0 s
Rejected(no requeue)   dead-letter record (reason ``rejected``), then ack
=====================  =============================================================================

A message acked early (``acks_late=False`` set on the task) can no longer be retried by lease, so a
retry or requeue of it is always a new send.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Callable

from .. import envelope as envelope_module
from ..deadletter import DeadLetter, encode_record
from ..execution import Expired, Failed, Ignored, Outcome, Rejected, RetryLater, Revoked, Succeeded
from ..limits import Limits, deliveries_allowed
from ..naming import dead_letter_queue_name
from .jobs import Job
from .settlement import ACK, NOTHING, Settlement

__all__ = ["settlement_for", "dead_letter", "hop", "requeue", "send_back"]


def _ack(job: Job) -> Settlement:
    return NOTHING if job.acked_early else ACK


def _then_ack(job: Job, send: tuple[str, str, int]) -> Settlement:
    return Settlement("none" if job.acked_early else "ack", send=send)


def dead_letter(
    job: Job,
    *,
    reason: str,
    limits: Limits,
    exc_type: str = "",
    message: str = "",
    traceback: str = "",
) -> Settlement:
    """Send a dead-letter record for ``job`` to its queue's dead-letter queue, then ack."""
    envelope = job.envelope
    record = DeadLetter.create(
        reason=reason,
        original_body=job.message.body,
        queue=job.message.queue,
        attempts=job.message.attempts,
        hostname=job.hostname,
        task=envelope.task if envelope is not None else None,
        task_id=envelope.id if envelope is not None else None,
        exc_type=exc_type,
        message=message,
        traceback=traceback,
    )
    body = encode_record(record, max_body_bytes=limits.max_body_bytes)
    return _then_ack(job, (dead_letter_queue_name(job.message.queue), body, 0))


def _resend(job: Job, new_envelope: "envelope_module.Envelope", delay_seconds: float, limits: Limits) -> Settlement:
    delay = max(0, math.ceil(delay_seconds))
    if delay > limits.max_delay_seconds:
        # Longer than one transport delay: carry the ETA so the next worker hops again.
        if new_envelope.eta is None:
            new_envelope = replace(new_envelope, eta=datetime.now(timezone.utc) + timedelta(seconds=delay))
        delay = limits.max_delay_seconds
    try:
        body = envelope_module.encode(new_envelope, limits=limits)
    except Exception as exc:  # noqa: BLE001 - e.g. retry(args=...) with arguments JSON cannot carry
        return dead_letter(job, reason="failed", limits=limits, exc_type=type(exc).__name__, message=str(exc))
    return _then_ack(job, (job.message.queue, body, delay))


def send_back(job: Job, envelope: "envelope_module.Envelope", delay_seconds: float, limits: Limits) -> Settlement:
    """Send ``envelope`` to the job's queue after ``delay_seconds`` and ack the leased copy: a new message,
    so it costs no delivery attempt (the running guard's hold-back)."""
    return _resend(job, envelope, delay_seconds, limits)


def hop(job: Job, remaining_seconds: float, limits: Limits) -> Settlement:
    """An ETA further away than we may wait: send the same body again with the longest delay allowed.

    A new message, not a retry of the lease: a retry would count as a delivery against ``max_retries``
    and ``request.retries`` (see docs/worker.md).
    """
    delay = min(limits.max_delay_seconds, max(1, math.ceil(remaining_seconds)))
    return _then_ack(job, (job.message.queue, job.message.body, delay))


def requeue(job: Job) -> Settlement:
    """Give ``job``'s message back to its queue at once: a retry of the lease, or a new send when the
    message was acked early and its lease is gone."""
    if job.acked_early:
        return _then_ack(job, (job.message.queue, job.message.body, 0))
    return Settlement("retry", delay_seconds=0)


def settlement_for(
    outcome: Outcome,
    job: Job,
    *,
    limits: Limits,
    max_retries_of: Callable[[str], int],
) -> Settlement:
    """The settlement of ``job`` whose task ended with ``outcome``."""
    if isinstance(outcome, (Succeeded, Ignored, Expired, Revoked)):
        return _ack(job)
    if isinstance(outcome, RetryLater):
        fits = outcome.delay_seconds <= limits.max_delay_seconds
        allowed = job.message.attempts < deliveries_allowed(max_retries_of(job.message.queue))
        if not outcome.body_changed and fits and allowed and not job.acked_early:
            return Settlement("retry", delay_seconds=max(0, math.ceil(outcome.delay_seconds)))
        return _resend(job, outcome.envelope, outcome.delay_seconds, limits)
    if isinstance(outcome, Rejected):
        if outcome.requeue:
            return requeue(job)
        return dead_letter(job, reason="rejected", limits=limits, exc_type="Reject", message=outcome.reason)
    if isinstance(outcome, Failed):
        reason = {
            "MaxRetriesExceededError": "max-retries-exceeded",
            "NotRegistered": "unknown-task",
            "TimeLimitExceeded": "time-limit",
            "WorkerLostError": "worker-lost",
        }.get(outcome.exc_type, "failed")
        return dead_letter(
            job, reason=reason, limits=limits,
            exc_type=outcome.exc_type, message=outcome.message, traceback=outcome.traceback,
        )
    raise TypeError(f"unknown outcome {outcome!r}")
