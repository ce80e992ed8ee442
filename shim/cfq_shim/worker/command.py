"""``cfq-shim -A proj worker``: start a worker, with Celery's flags where they make sense."""

from __future__ import annotations

import os
import sys

import click

from ..beat.command import PidFile, resolve_schedule_path, schedule_option, scheduler_option
from ..beat.embedded import EmbeddedBeat
from ..beat.entries import ScheduleError
from ..beat.state import ScheduleFileError
from ..beat.wiring import beat_for_app
from ..cli import app_from_context
from ..exceptions import ImproperlyConfigured
from ..runtime import Runtime
from ..transport.base import TransportError
from .banner import banner, configure_logging
from .consumer import POOLS, Worker

# app_from_context is also imported from here by provision.py.
__all__ = ["worker", "DEFAULT_POOL", "default_concurrency", "app_from_context"]

#: Celery's default, kept so that code written for Celery keeps its process model: one task per process,
#: ``worker_process_init`` per child, and hard time limits that really end the task.
DEFAULT_POOL = "prefork"


def default_concurrency() -> int:
    """Celery's default: one slot per CPU."""
    return os.cpu_count() or 1


@click.command("worker")
@click.option("-l", "--loglevel", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], case_sensitive=False),
              help="Logging level.")
@click.option("-f", "--logfile", default=None, help="Log to this file instead of stderr.")
@click.option("-c", "--concurrency", type=click.IntRange(min=1), default=None,
              help="Tasks run at once: threads or child processes. [default: the number of CPUs]")
@click.option("-Q", "--queues", default=None, metavar="A,B",
              help="Comma-separated queues to consume. [default: every queue the app knows]")
@click.option("-P", "--pool", type=click.Choice(POOLS), default=DEFAULT_POOL, show_default=True,
              help="Where tasks run: prefork (child processes), threads, or solo (the worker's own thread).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Most messages leased by one pull. [default: the transport's maximum, 100]")
@click.option("--visibility-timeout", "visibility_timeout_seconds", type=click.FloatRange(min=0.001), default=None,
              help="Lease of a pulled message, in seconds, before it is delivered again; the worker leases "
                   "longer when the tasks' time limits need it. [default: broker_visibility_timeout, else 30]")
@click.option("--prefetch-multiplier", type=click.IntRange(min=1), default=None,
              help="Messages leased per slot ahead of time. [default: adaptive: 1 for slow tasks, more for "
                   "tasks that take well under 0.1 s]")
@click.option("--max-tasks-per-child", type=click.IntRange(min=1), default=None,
              help="prefork: replace a child process after it has run this many tasks.")
@click.option("--start-method", "start_method", type=click.Choice(["fork", "spawn"]), default=None,
              help="prefork: how child processes start. [default: fork where available]")
@click.option("-n", "--hostname", default=None, help="Name of this worker. [default: celery@HOSTNAME]")
@click.option("--pidfile", default=None, metavar="PATH",
              help="Write the process id here; refuse to start if it names a running process (removed on exit).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Hard time limit, in seconds, of tasks without their own (sets task_time_limit, as Celery's).")
@click.option("--soft-time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Soft time limit, in seconds, of tasks without their own (sets task_soft_time_limit).")
@click.option("-B", "--beat", "embed_beat", is_flag=True, default=False,
              help="Also send the app's periodic tasks from this worker (as cfq-shim beat; safe on several workers).")
@schedule_option
@scheduler_option
@click.pass_context
def worker(
    ctx: click.Context,
    loglevel: str,
    logfile: str | None,
    concurrency: int | None,
    queues: str | None,
    pool: str,
    batch_size: int | None,
    visibility_timeout_seconds: float | None,
    prefetch_multiplier: int | None,
    max_tasks_per_child: int | None,
    start_method: str | None,
    hostname: str | None,
    pidfile: str | None,
    time_limit: float | None,
    soft_time_limit: float | None,
    embed_beat: bool,
    schedule_path: str | None,
    scheduler: str | None,
) -> None:
    """Start a worker that runs the app's tasks."""

    app = app_from_context(ctx)
    try:
        configure_logging(loglevel, logfile=logfile)
    except OSError as exc:
        raise click.ClickException(f"cannot open the log file {logfile!r}: {exc.strerror or exc}") from None
    queue_names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    if concurrency is None:
        concurrency = _whole_number_setting(app, "worker_concurrency") or default_concurrency()
    if max_tasks_per_child is None:
        max_tasks_per_child = _whole_number_setting(app, "worker_max_tasks_per_child")
    # As Celery's worker does: the options are the app's defaults for this process (a task's own
    # time_limit/soft_time_limit still wins); the consumer reads them per task from app.conf.
    if time_limit is not None:
        app.conf.task_time_limit = time_limit
    if soft_time_limit is not None:
        app.conf.task_soft_time_limit = soft_time_limit
    try:
        instance = Worker(
            app,
            queues=queue_names,
            concurrency=concurrency,
            pool=pool,
            batch_size=batch_size,
            visibility_timeout_ms=int(visibility_timeout_seconds * 1000) if visibility_timeout_seconds else None,
            max_tasks_per_child=max_tasks_per_child,
            hostname=hostname,
            app_spec=(ctx.find_root().obj or {}).get("app_spec"),
            pool_start_method=start_method,
            prefetch_multiplier=prefetch_multiplier,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except ImproperlyConfigured as exc:  # e.g. Django could not be set up (cfq_shim.fixups.django)
        raise click.ClickException(str(exc)) from None
    embedded = start_embedded_beat(app, schedule_path, scheduler) if embed_beat else None
    if embedded is None:
        app.finalize()  # add_periodic_task calls in on_after_configure handlers have run
    if embedded is None and app.conf.beat_schedule:
        click.echo(f"warning: the app has {len(app.conf.beat_schedule)} periodic task(s) in beat_schedule and this "
                   "worker does not send them: run `cfq-shim beat` (or add -B to one worker)", err=True)
    instance.on_ready = lambda: click.echo(banner(instance, broker_url=app.broker_url), err=True)
    pid_guard = PidFile(pidfile) if pidfile else None
    if pid_guard:
        try:
            pid_guard.__enter__()  # refuses (a one-line error) when another live process holds it
        except click.ClickException:
            if embedded is not None:
                embedded.stop()
            raise
    try:
        code = instance.run()
    except (TransportError, ValueError, ImproperlyConfigured) as exc:
        if instance.ready:
            raise  # raised by the running worker: a bug or an outage, shown with its traceback
        # Start-up problems the user can fix: an unsupported broker URL, a missing queue, a bad flag.
        raise click.ClickException(str(exc)) from None
    finally:
        if embedded is not None:
            embedded.stop()
        if pid_guard:
            pid_guard.__exit__()
    sys.stdout.flush()
    sys.stderr.flush()
    ctx.exit(code)


def start_embedded_beat(app: Runtime, schedule_path: str | None, scheduler: str | None = None) -> object:
    """``-B``: a beat thread in this worker; a bad schedule is a one-line error before the worker starts."""

    try:
        beat = beat_for_app(app, schedule_path=resolve_schedule_path(app, schedule_path), scheduler=scheduler)
    except (ScheduleError, ScheduleFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    embedded = EmbeddedBeat(beat)
    embedded.start(sender=app)
    return embedded


def _whole_number_setting(app: Runtime, name: str) -> int | None:
    """A whole-number setting of the app (None when unset); a value that is not a number is a one-line error."""
    configured = app.conf.get(name)
    if not configured:
        return None
    try:
        return int(configured)
    except (TypeError, ValueError):
        raise click.ClickException(f"{name} must be a whole number (got {configured!r})") from None
