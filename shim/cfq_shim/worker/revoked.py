"""What the worker does with a revoked task (``app.control.revoke``), before it runs or once ended.

As in Celery, the ``task_revoked`` signal is sent, and with a result backend the task is recorded with
state REVOKED and a ``TaskRevokedError('revoked')`` (``'terminated'`` when its process was ended), so
``AsyncResult.state`` reads REVOKED and ``get()`` raises.
"""

from __future__ import annotations

import logging

from .. import signals
from ..execution import request_for
from ..runtime import Runtime
from .jobs import Job

__all__ = ["record_revoked"]

logger = logging.getLogger("cfq_shim.worker")


def record_revoked(app: Runtime, job: Job, *, terminated: bool = False, signum: int | None = None) -> None:
    envelope, delivery, task = job.envelope, job.delivery, job.task
    assert envelope is not None and delivery is not None
    request = request_for(envelope, delivery)
    logger.info("Discarding revoked task: %s[%s]%s", envelope.task, envelope.id,
                f" (terminated with signal {signum})" if terminated else "")
    signals.task_revoked.send(sender=task, request=request, terminated=terminated, signum=signum, expired=False)
    try:
        task.backend.mark_as_revoked(envelope.id, "terminated" if terminated else "revoked", request=request,
                                     store_result=not task.ignore_result)
    except Exception as exc:  # noqa: BLE001 - the message is acked either way; say why the state is missing
        logger.warning("Could not record %s[%s] as REVOKED in the result backend: %s", envelope.task, envelope.id, exc)
