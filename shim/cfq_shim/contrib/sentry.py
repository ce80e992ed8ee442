"""Sentry: report task failures as Sentry's Celery integration does, through sentry_sdk's public API.

    import sentry_sdk
    from cfq_shim.contrib.sentry import install

    sentry_sdk.init(dsn=...)          # in the worker process (e.g. in the app module), as usual
    install()

Each failure of a task run (``task_failure``) becomes one event with the exception and its traceback,
the tag ``celery_task_id`` and the extra ``celery-job`` (``task_name``, ``args``, ``kwargs``), as
Sentry's ``CeleryIntegration`` sends them (sentry-sdk 2.x): ``args`` and ``kwargs`` only with
``send_default_pii=True``, else ``"[Filtered]"``; a ``SoftTimeLimitExceeded`` is fingerprinted by task
name. ``celery-job`` also holds ``retries``, the run's retry count. As there, ``Retry``, ``Ignore`` and
``Reject`` are not errors, nor an exception the task declares in ``throws``.
(``CeleryIntegration`` itself hooks into Celery's internals and does nothing for cfq_shim; the codemod
points here.)
"""

from __future__ import annotations

import threading
from typing import Any

from .. import signals
from ..exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded

__all__ = ["install", "uninstall"]

_installed = threading.Event()
_EXPECTED = (Retry, Ignore, Reject)
#: What sentry-sdk writes instead of data that may be personal (its SENSITIVE_DATA_SUBSTITUTE).
_FILTERED = "[Filtered]"


def install() -> None:
    """Connect the failure handler (once; a second call changes nothing)."""
    if not _installed.is_set():
        signals.task_failure.connect(_on_failure, weak=False)
        _installed.set()


def uninstall() -> None:
    if _installed.is_set():
        signals.task_failure.disconnect(_on_failure)
        _installed.clear()


def _on_failure(sender: Any = None, task_id: str | None = None, exception: BaseException | None = None,
                args: Any = (), kwargs: Any = None, **_: Any) -> None:
    import sentry_sdk

    if exception is None or isinstance(exception, _EXPECTED):
        return
    task = sender
    throws = tuple(getattr(task, "throws", ()) or ())
    if throws and isinstance(exception, throws):
        return
    name = getattr(task, "name", str(sender))
    request = getattr(task, "request", None)
    client = sentry_sdk.get_client() if hasattr(sentry_sdk, "get_client") else None
    send_pii = bool(client is not None and client.should_send_default_pii())
    job = {"task_name": name,
           "args": list(args or ()) if send_pii else _FILTERED,
           "kwargs": dict(kwargs or {}) if send_pii else _FILTERED,
           "retries": getattr(request, "retries", 0) or 0}
    scope_factory = getattr(sentry_sdk, "new_scope", None) or sentry_sdk.push_scope  # sentry-sdk 2.x / 1.x
    with scope_factory() as scope:
        scope.set_tag("celery_task_id", task_id)
        scope.set_extra("celery-job", job)
        if isinstance(exception, SoftTimeLimitExceeded):
            scope.fingerprint = ["celery", "SoftTimeLimitExceeded", name]
        sentry_sdk.capture_exception(exception)
