"""The cheap first look: could this file hold Celery code, or a call the index can tie to Celery?

No parsing: the bytes are lower-cased once and searched for a few markers. A file is kept when it
contains, in any letter case, one of:

- ``celery`` (imports, ``Celery(...)``, ``celery_app``, ``CELERY_*`` settings, ``django_celery_beat``)
- ``cfq_shim`` (code already migrated; a second run must still see it)
- ``task`` (``@app.task``, ``shared_task``, ``app.task(func)`` with an app imported under another name)
- ``broker`` (pre-4.0 configuration modules such as ``BROKER_URL = ...`` without the word celery)
- ``.delay(``, ``.apply_async(``, ``.s(``, ``.si(``, ``.signature(`` (``send_task`` has ``task``): call sites
  in modules that only import a task, e.g. ``from .tasks import add; add.delay(1)``
- ``.control.`` and ``asyncresult``: remote control and results on an app imported under a plain
  name (``from proj.worker import app; app.control.inspect()``)

A kept file is not necessarily changed: the transform decides that, and reads files that turn out
to have nothing to do with Celery with the fast ``ast`` only. What is dropped here can never be
tied to Celery by the index: a module whose only link is a decorator alias imported under a name
without ``task`` in it (``@retrying``) is skipped (its tasks are not counted), a documented limit.
"""

from __future__ import annotations

__all__ = ["MARKERS", "might_need_work"]

#: Lower-case byte markers; any one keeps the file.
MARKERS: tuple[bytes, ...] = (
    b"celery",
    b"cfq_shim",
    b"task",
    b"broker",
    b".delay(",
    b".apply_async(",
    b".s(",
    b".si(",
    b".signature(",
    b".control.",
    b"asyncresult",
)


def might_need_work(data: bytes) -> bool:
    """True when ``data`` (a file's raw bytes) contains any of :data:`MARKERS`, in any case."""
    lowered = data.lower()
    return any(marker in lowered for marker in MARKERS)
