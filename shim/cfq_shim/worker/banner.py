"""The worker's start-up banner and its logging set-up, in Celery's formats.

Logging: when a receiver is connected to ``setup_logging`` the worker leaves logging to it (as Celery
does); otherwise it logs to stderr with Celery's worker formats and then sends ``after_setup_logger``
and ``after_setup_task_logger``.
"""

from __future__ import annotations

import logging
import platform
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import __version__, signals
from ..log import TASK_LOGGER_NAME, TaskFormatter

if TYPE_CHECKING:  # pragma: no cover
    from .consumer import Worker

__all__ = ["WORKER_LOG_FORMAT", "WORKER_TASK_LOG_FORMAT", "configure_logging", "banner", "safe_broker_url"]

#: Celery's ``worker_log_format`` and ``worker_task_log_format`` defaults.
WORKER_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
WORKER_TASK_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s"


_HTTP_CLIENT_LOGGERS = ("httpx", "httpcore")


def configure_logging(loglevel: str | int, *, logfile: str | None = None) -> None:
    level = logging.getLevelName(loglevel.upper()) if isinstance(loglevel, str) else loglevel
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {loglevel!r}")
    if signals.setup_logging.has_listeners():
        signals.setup_logging.send(sender=None, loglevel=level, logfile=logfile, format=WORKER_LOG_FORMAT,
                                   colorize=False)
        return
    stream: Any = open(logfile, "a", encoding="utf-8") if logfile else sys.stderr
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(WORKER_LOG_FORMAT))
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK's HTTP client logs every request at INFO, and a worker pulls several times a second.
    # Celery's worker logs no broker traffic, so show it only with -l debug.
    for name in _HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
    task_logger = logging.getLogger(TASK_LOGGER_NAME)
    task_handler = logging.StreamHandler(stream)
    task_handler.setFormatter(TaskFormatter(WORKER_TASK_LOG_FORMAT))
    task_logger.handlers[:] = [task_handler]
    task_logger.propagate = False
    task_logger.setLevel(level)
    signals.after_setup_logger.send(sender=None, logger=root, loglevel=level, logfile=logfile,
                                    format=WORKER_LOG_FORMAT, colorize=False)
    signals.after_setup_task_logger.send(sender=None, logger=task_logger, loglevel=level, logfile=logfile,
                                         format=WORKER_TASK_LOG_FORMAT, colorize=False)


def safe_broker_url(url: str) -> str:
    """The broker URL for display: no user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def banner(worker: "Worker", *, broker_url: str) -> str:
    app = worker.app
    main = getattr(app, "main", None) or "__main__"
    concurrency = f"{worker.concurrency} ({worker.pool_name})"
    if worker.pool_name == "prefork" and worker.max_tasks_per_child:
        concurrency += f", max {worker.max_tasks_per_child} tasks per child"
    lines = [
        f" -------------- {worker.hostname} v{__version__} (cfq_shim)",
        f"--- ***** ----- {platform.platform(terse=True)} {datetime.now():%Y-%m-%d %H:%M:%S}",
        "- *** --- * --- ",
        "- ** ---------- [config]",
        f"- ** ---------- .> app:         {main}:{id(app):#x}",
        f"- ** ---------- .> transport:   {safe_broker_url(broker_url)}",
        f"- ** ---------- .> results:     {app.backend.url or 'disabled://'}",
        f"- ** ---------- .> concurrency: {concurrency}",
        f"- *** --- * --- .> batch:       up to {worker.batch_size} per pull, lease {worker.base_visibility_timeout_ms} ms",
        "-- ******* ---- ",
        "--- ***** ----- [queues]",
    ]
    for name in worker.queues:
        lines.append(f" -------------- .> {name}")
    lines.append("")
    lines.append("[tasks]")
    for name in sorted(n for n in app.tasks if not n.startswith("celery.")):
        lines.append(f"  . {name}")
    return "\n".join(lines) + "\n"
