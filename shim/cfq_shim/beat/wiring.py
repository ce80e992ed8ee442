"""Build a :class:`~cfq_shim.beat.service.Beat` for an app: its entries, its sender, where its lease lives.

Shared by ``cfq-shim beat`` and ``cfq-shim worker -B``. Reads from the app only its public surface:
``app.tasks`` (finalizing it, which runs ``on_after_configure``/``on_after_finalize`` handlers and so
their ``add_periodic_task`` calls), ``app.conf`` and, for sending, each task's ``apply_async``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..backend import Backend
from ..runtime import Runtime
from .django_scheduler import DjangoSchedule, scheduler_kind
from .entries import Entry, read_entries
from .lock import BackendCoordinator, Coordinator, FileCoordinator
from .schedules import resolve_timezone
from .service import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_INTERVAL_SECONDS, Beat
from .state import ScheduleFile

__all__ = ["beat_for_app", "app_entries", "choose_coordinator", "LOCK_CHOICES"]

#: ``--lock``: where the lease and the claims live.
LOCK_CHOICES = ("auto", "schedule", "backend")
DJANGO_MAX_INTERVAL_SECONDS = 5.0
#: Celery's beat header, set on every message beat sends.
_BEAT_HEADER = "celery_beat_task"


def app_entries(app: Runtime, *, allow_solar: bool = False) -> list[Entry]:
    """The app's schedule, checked (``ScheduleError`` names a bad entry)."""
    registered = set(app.tasks)  # finalizes the app: add_periodic_task in signal handlers has run
    conf = app.conf
    tz = resolve_timezone(conf.get("timezone"), bool(conf.get("enable_utc", True)))
    return read_entries(conf.get("beat_schedule"), registered=registered, tz=tz, app=app, allow_solar=allow_solar)


def _sender(app: Runtime) -> Any:
    def send(entry: Entry, due: datetime, task_id: str) -> None:
        options = dict(entry.options)
        headers = dict(options.pop("headers", None) or {})
        headers[_BEAT_HEADER] = True
        app.tasks[entry.task].apply_async(entry.args, entry.kwargs, task_id=task_id, headers=headers, **options)

    return send


def choose_coordinator(app: Runtime, schedule_file: ScheduleFile, lock: str = "auto") -> Coordinator:
    """``schedule``: the schedule file (one machine). ``backend``: the result backend's store (several
    machines). ``auto``: the result backend when one shared between processes is configured, else the file."""
    if lock not in LOCK_CHOICES:
        raise ValueError(f"--lock must be one of {', '.join(LOCK_CHOICES)}")
    if lock == "schedule":
        return FileCoordinator(schedule_file)
    backend = app.backend if app.conf.get("result_backend") else None
    store = backend.store if isinstance(backend, Backend) else None
    if store is not None and store.shared_between_processes:
        return BackendCoordinator(store)
    if lock == "backend":
        reason = "no result_backend is configured" if store is None else f"{store.describe()} is not shared between processes"
        raise ValueError(f"--lock backend needs a shared result backend (redis://, db+..., django-db, d1://, "
                         f"or sqlite:/// on one machine): {reason}")
    return FileCoordinator(schedule_file)


def beat_for_app(
    app: Runtime,
    *,
    schedule_path: str,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    max_interval_seconds: float | None = None,
    lock: str = "auto",
    scheduler: str | None = None,
) -> Beat:
    """A ready :class:`Beat`; raises ``ScheduleError``/``ScheduleFileError``/``ValueError`` with one line.

    ``scheduler``: ``-S`` (else ``beat_scheduler``): the default reads ``beat_schedule``; ``django``
    reads django_celery_beat's tables too (:mod:`cfq_shim.beat.django_scheduler`)."""
    kind = scheduler_kind(scheduler if scheduler is not None else app.conf.get("beat_scheduler"))
    database = DjangoSchedule(app) if kind == "django" else None
    entries = database.entries(strict=True) if database is not None else app_entries(app)
    schedule_file = ScheduleFile(schedule_path)
    try:
        coordinator = choose_coordinator(app, schedule_file, lock)
    except ValueError:
        schedule_file.close()
        raise
    if max_interval_seconds is None:
        # Celery's defaults: 300 s for the file scheduler, 5 s for django_celery_beat's.
        default = DEFAULT_MAX_INTERVAL_SECONDS if database is None else DJANGO_MAX_INTERVAL_SECONDS
        max_interval_seconds = float(app.conf.get("beat_max_loop_interval") or 0) or default
    deadline = app.conf.get("beat_cron_starting_deadline")
    return Beat(
        entries,
        send=_sender(app),
        schedule_file=schedule_file,
        coordinator=coordinator,
        lease_seconds=lease_seconds,
        max_interval_seconds=max_interval_seconds,
        starting_deadline_seconds=float(deadline) if deadline is not None else None,
        reload=database.entries if database is not None else None,
        on_sent=database.record_run if database is not None else None,
    )
