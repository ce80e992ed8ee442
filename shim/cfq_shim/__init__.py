"""cfq_shim: a drop-in Celery runtime on Cloudflare Queues.

``from cfq_shim import Celery, shared_task`` in place of ``from celery import ...``; see docs/api.md.
"""

from __future__ import annotations

from . import states
from .app import Celery, shared_task
from .canvas import Signature, chain, chord, chunks, group, maybe_signature, signature, subtask, xmap, xstarmap
from .local import current_app, current_task
from .log import get_task_logger
from .result import AsyncResult, GroupResult, ResultSet
from .schedules import crontab, schedule
from .task import Task

__version__ = "0.1.0"


def uuid() -> str:
    """A new task id (Celery's ``celery.uuid``)."""
    import uuid as _uuid

    return str(_uuid.uuid4())

__all__ = [
    "Celery", "shared_task", "Task", "group", "chain", "chord", "signature", "Signature", "states",
    "current_app", "current_task", "crontab", "schedule", "AsyncResult", "GroupResult", "ResultSet",
    "get_task_logger", "chunks", "xmap", "xstarmap", "maybe_signature", "subtask", "uuid", "__version__",
]
