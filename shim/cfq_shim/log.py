"""Loggers: ``get_task_logger(__name__)`` and ``get_logger``, as in Celery.

A task logger's records carry ``task_id`` and ``task_name`` (``"???"`` outside a task), so formats
like Celery's worker task format work: ``"%(task_name)s[%(task_id)s]: %(message)s"``.
"""

from __future__ import annotations

import logging

from .local import get_current_task

__all__ = ["get_task_logger", "get_logger", "TaskFormatter", "task_logger", "worker_logger"]

#: Parent of every task logger (Celery's name, so existing logging config keeps applying).
TASK_LOGGER_NAME = "celery.task"


class _TaskContextFilter(logging.Filter):
    """Stamps the current task's id and name on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = get_current_task()
        if task is not None and task.request.id is not None:
            record.task_id = task.request.id
            record.task_name = task.name
        else:
            record.__dict__.setdefault("task_id", "???")
            record.__dict__.setdefault("task_name", "???")
        return True


_filter = _TaskContextFilter()


def get_logger(name: str) -> logging.Logger:
    """A plain logger (Celery's ``celery.utils.log.get_logger``)."""
    return logging.getLogger(name)


def get_task_logger(name: str) -> logging.Logger:
    """A logger under ``celery.task`` whose records carry the task's id and name."""
    if name in ("celery", TASK_LOGGER_NAME):
        raise RuntimeError(f"Logger name {name!r} is reserved")
    logger = logging.getLogger(name)
    logger.parent = logging.getLogger(TASK_LOGGER_NAME)
    if _filter not in logger.filters:
        logger.addFilter(_filter)
    return logger


class TaskFormatter(logging.Formatter):
    """A formatter that fills ``task_id``/``task_name`` for any record (``"???"`` outside a task)."""

    def format(self, record: logging.LogRecord) -> str:
        _filter.filter(record)
        return super().format(record)


task_logger = logging.getLogger(TASK_LOGGER_NAME)
worker_logger = logging.getLogger("celery.worker")
