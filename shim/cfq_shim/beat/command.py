"""``cfq-shim -A proj beat``: send the app's periodic tasks (Celery's ``celery -A proj beat``)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from ..cli import app_from_context
from ..exceptions import ImproperlyConfigured
from ..runtime import Runtime
from ..signals import beat_init
from ..worker.banner import configure_logging
from .entries import ScheduleError
from .service import DEFAULT_LEASE_SECONDS
from .state import DEFAULT_SCHEDULE_FILENAME, ScheduleFileError
from .wiring import LOCK_CHOICES, beat_for_app
from .wrangler import ExportError, describe_refusals, export_wrangler

__all__ = ["beat_command", "schedule_option", "scheduler_option", "PidFile"]

#: ``-s/--schedule``, shared with ``cfq-shim worker -B``.
schedule_option = click.option(
    "-s", "--schedule", "schedule_path", default=None, metavar="PATH",
    help=f"The schedule file (SQLite): last run per entry, and the lease. [default: beat_schedule_filename, "
         f"else {DEFAULT_SCHEDULE_FILENAME} in the working directory]")


#: ``-S/--scheduler``, shared with ``cfq-shim worker -B``.
scheduler_option = click.option(
    "-S", "--scheduler", default=None, metavar="NAME",
    help="Where the schedule comes from: the app's beat_schedule (default), or 'django' (also "
         "django_celery_beat.schedulers:DatabaseScheduler): django_celery_beat's tables, edited in the admin. "
         "[default: beat_scheduler]")


class PidFile:
    """``--pidfile`` (beat's and the worker's): refuse to start when it names a live process; removed on exit."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> "PidFile":
        try:
            with open(self.path, encoding="ascii") as handle:
                existing = int(handle.read().strip() or 0)
        except (OSError, ValueError):
            existing = 0
        if existing and _alive(existing):
            raise click.ClickException(f"pidfile {self.path!r} names a running process ({existing}); is it already running?")
        try:
            with open(self.path, "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as exc:
            raise click.ClickException(f"cannot write the pidfile {self.path!r}: {exc.strerror or exc}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def _export(app: Runtime, directory: str, **options: Any) -> int:
    """``--export-wrangler``: 0 when every entry was exported, 1 when some were refused (the rest are written)."""
    try:
        result = export_wrangler(app, directory, **options)
    except (ExportError, ScheduleError, ValueError, ImproperlyConfigured) as exc:
        raise click.ClickException(str(exc)) from None
    for cron, names in sorted(result.crons.items()):
        click.echo(f"{cron}  ->  {', '.join(names)}")
    click.echo(f"wrote {result.directory}/wrangler.json and src/index.js: {len(result.crons)} Cron Trigger(s), "
               f"queues {', '.join(sorted(result.queues.values()))}; deploy with `npx wrangler deploy` there")
    for line in describe_refusals(result.refused):
        click.echo(line, err=True)
    return 1 if result.refused else 0


def resolve_schedule_path(app: Runtime, schedule_path: str | None) -> str:
    return schedule_path or app.conf.get("beat_schedule_filename") or DEFAULT_SCHEDULE_FILENAME


@click.command("beat")
@click.option("-l", "--loglevel", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], case_sensitive=False),
              help="Logging level (INFO logs every run sent).")
@click.option("-f", "--logfile", default=None, help="Log to this file instead of stderr.")
@schedule_option
@scheduler_option
@click.option("--max-interval", "max_interval", type=click.FloatRange(min=0.01), default=None,
              help="Longest sleep between checks, in seconds. [default: beat_max_loop_interval, else 300; 5 with -S django]")
@click.option("--pidfile", default=None, metavar="PATH", help="Write the process id here; refuse to start if it "
              "names a running process.")
@click.option("--lease", "lease_seconds", type=click.FloatRange(min=0.1), default=DEFAULT_LEASE_SECONDS,
              show_default=True, help="Seconds a beat holds the lease without renewing it: how soon a standby "
              "takes over after the holder dies.")
@click.option("--export-wrangler", "export_dir", default=None, metavar="DIR",
              help="Do not run: write a Worker and its wrangler.json to DIR whose Cron Triggers send the entries "
                   "(docs/beat.md, 'Cloudflare Cron Triggers'); entries cron cannot express are listed with the reason.")
@click.option("--worker-name", default=None, help="--export-wrangler: the Worker's name. [default: APP-beat]")
@click.option("--queue-prefix", envvar="CFQ_SHIM_QUEUE_PREFIX", default="",
              help="--export-wrangler: prefix of the Cloudflare queue names, as for the worker. [default: $CFQ_SHIM_QUEUE_PREFIX]")
@click.option("--max-cron-triggers", type=click.IntRange(min=1), default=None,
              help="--export-wrangler: Cron Triggers one Worker may have. [default: 5, Cloudflare's limit on Workers Free]")
@click.option("--lock", type=click.Choice(LOCK_CHOICES), default="auto", show_default=True,
              help="Where the lease lives: the schedule file (beats on one machine), the result backend (beats on "
                   "several machines), or auto (the result backend when one with locks is configured).")
@click.pass_context
def beat_command(ctx: click.Context, loglevel: str, logfile: str | None, schedule_path: str | None,
                 scheduler: str | None, max_interval: float | None, pidfile: str | None, lease_seconds: float,
                 export_dir: str | None, worker_name: str | None, queue_prefix: str, max_cron_triggers: int | None,
                 lock: str) -> None:
    """Send the app's periodic tasks (beat_schedule, add_periodic_task), one beat at a time.

    Any number of beat processes may run: one holds the lease and sends, the others stand by and take
    over within --lease seconds when it stops. SIGTERM or Ctrl-C stops it cleanly.
    """

    app = app_from_context(ctx)
    if export_dir is not None:
        ctx.exit(_export(app, export_dir, worker_name=worker_name, queue_prefix=queue_prefix,
                         max_cron_triggers=max_cron_triggers))
    try:
        configure_logging(loglevel, logfile=logfile)
    except OSError as exc:
        raise click.ClickException(f"cannot open the log file {logfile!r}: {exc.strerror or exc}") from None
    path = resolve_schedule_path(app, schedule_path)
    try:
        beat = beat_for_app(app, schedule_path=path, lease_seconds=lease_seconds, max_interval_seconds=max_interval,
                            lock=lock, scheduler=scheduler)
    except (ScheduleError, ScheduleFileError, ValueError, ImproperlyConfigured) as exc:
        raise click.ClickException(str(exc)) from None
    pid_guard = PidFile(pidfile) if pidfile else None
    if pid_guard:
        pid_guard.__enter__()
    previous = {sig: signal.signal(sig, lambda signum, frame: beat.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        click.echo(
            f"cfq-shim beat: {len(beat.entries)} entr{'y' if len(beat.entries) == 1 else 'ies'}, schedule {beat.file.path}, "
            f"lease {beat.lease_seconds:g} s in {beat.coordinator.describe()}", err=True)
        beat_init.send(sender=beat)
        beat.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        beat.file.close()
        if pid_guard:
            pid_guard.__exit__()
    sys.stderr.flush()
