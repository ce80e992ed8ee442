"""``cfq-shim beat --export-wrangler DIR``: the schedule as Cloudflare Cron Triggers, so no beat runs.

Writes ``DIR/wrangler.json`` (the Worker's name, its ``triggers.crons`` and one queue producer binding
per queue) and ``DIR/src/index.js`` (a Worker whose ``scheduled()`` handler sends every entry of the
cron that fired, as the versioned envelope, to the entry's queue). Deploy with ``npx wrangler deploy``
from ``DIR``.

Celery's crontab becomes Cloudflare's cron, which runs in UTC and numbers weekdays 1 = Sunday .. 7 =
Saturday (Celery: 0 = Sunday). Entries with the same cron share one trigger, and the number of triggers
is checked against ``Limits.max_cron_triggers``. An entry Cloudflare's cron cannot express is refused
with the reason (:class:`NotExpressible`) and left to ``cfq-shim beat``:

- intervals under a minute, or that do not divide an hour or a day (every 7 minutes);
- ``solar`` schedules;
- crontabs in a time zone other than UTC (Cloudflare has no time zones; one with DST cannot be
  rewritten in UTC at all);
- crontabs that restrict both ``day_of_month`` and ``day_of_week`` (Celery requires both to match,
  cron either).

An interval entry becomes a cron aligned on the clock: "every 15 minutes" runs at :00, :15, :30, :45
rather than 15 minutes after beat started.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from importlib import resources
from typing import Any, Sequence

from ..envelope import Envelope, encode
from ..runtime import Runtime
from ..transport.cloudflare_names import cloudflare_queue_name
from .entries import Entry
from .schedules import crontab, schedule
from .service import RUN_ID_NAMESPACE
from .wiring import app_entries

__all__ = ["NotExpressible", "ExportError", "Export", "cloudflare_cron", "export_wrangler"]

#: The Workers runtime version the generated Worker is written for (plain ES modules, Web Crypto).
COMPATIBILITY_DATE = "2024-09-23"
_SCHEDULE_MARKER = "/* SCHEDULE */ {}"


class NotExpressible(ValueError):
    """A schedule Cloudflare's cron cannot express; the message is the reason."""


class ExportError(ValueError):
    """The export cannot be written (too many distinct crons, nothing to export, an unwritable DIR)."""


@dataclass
class Export:
    """What was written: crons with their entry names, queues, and the refused entries with reasons."""

    directory: str
    crons: dict[str, list[str]] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)  # binding -> Cloudflare queue name
    refused: dict[str, str] = field(default_factory=dict)  # entry name -> reason


# -- Celery schedule -> Cloudflare cron --------------------------------------------------------------
def cloudflare_cron(entry_schedule: Any) -> str:
    """Cloudflare's five-field UTC cron for a schedule, or :class:`NotExpressible` with the reason."""
    if isinstance(entry_schedule, crontab):
        return _crontab_cron(entry_schedule)
    if isinstance(entry_schedule, schedule) and entry_schedule.run_every is not None:
        return _interval_cron(entry_schedule.run_every)
    kind = type(entry_schedule).__name__
    raise NotExpressible(f"a {kind} schedule has no cron equivalent")


def _crontab_cron(entry: crontab) -> str:
    _check_utc(entry.tz)
    if entry.day_of_month != set(range(1, 32)) and entry.day_of_week != set(range(7)):
        raise NotExpressible("it restricts both day_of_month and day_of_week: Celery runs only when both match, "
                             "cron when either does")
    return " ".join([
        _field(entry.minute, 0, 59),
        _field(entry.hour, 0, 23),
        _field(entry.day_of_month, 1, 31),
        _field(entry.month_of_year, 1, 12),
        _field({day + 1 for day in entry.day_of_week}, 1, 7),  # Celery 0 = Sunday; Cloudflare 1 = Sunday
    ])


def _check_utc(zone: tzinfo) -> None:
    probes = [datetime(2024, month, 15, 12, tzinfo=timezone.utc) for month in (1, 4, 7, 10)]
    offsets = {probe.astimezone(zone).utcoffset() for probe in probes}
    if offsets == {timedelta(0)}:
        return
    if len(offsets) > 1:
        raise NotExpressible(f"it runs in time zone {zone}, which has daylight saving time, and Cloudflare's cron "
                             "runs in UTC")
    raise NotExpressible(f"it runs in time zone {zone} (UTC{_offset(offsets.pop())}), and Cloudflare's cron runs in "
                         "UTC: write the entry in UTC to export it")


def _offset(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _field(values: set[int], low: int, high: int) -> str:
    """``*``, ``*/n``, or ranges and values (``1-5,7``) for a set of field values."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) > 2 and ordered[0] == low:
        step = ordered[1] - ordered[0]
        if ordered == list(range(low, high + 1, step)):
            return f"*/{step}"
    parts, start = [], ordered[0]
    for previous, current in zip(ordered, [*ordered[1:], None]):
        if current != previous + 1:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = current
    return ",".join(parts)


def _interval_cron(every: timedelta) -> str:
    seconds = every.total_seconds()
    if seconds < 60:
        raise NotExpressible(f"it runs every {seconds:g} s, and Cloudflare's cron runs at most once a minute")
    if seconds % 60:
        raise NotExpressible(f"every {seconds:g} s is not a whole number of minutes")
    minutes = int(seconds // 60)
    if minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60 == 0:
        hours = minutes // 60
        if hours < 24 and 24 % hours == 0:
            return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
        if hours == 24:
            return "0 0 * * *"
    raise NotExpressible(f"every {every} does not divide an hour or a day, so no cron expression repeats it exactly")


# -- the Worker and its configuration -------------------------------------------------------------
def _binding_name(cloudflare_name: str) -> str:
    return "QUEUE_" + re.sub(r"[^A-Z0-9]+", "_", cloudflare_name.upper()).strip("_")


def _worker_entry(app: Runtime, entry: Entry, binding: str, queue: str) -> dict[str, Any]:
    options = dict(entry.options)
    task = app.tasks[entry.task]
    headers = {**(options.get("headers") or {}), "celery_beat_task": True}
    expires = options.get("expires", task.expires)
    countdown = options.get("countdown")
    if options.get("eta") is not None:
        raise NotExpressible("options['eta'] is a fixed time; a periodic run needs countdown instead")
    fixed_expires = expires if isinstance(expires, datetime) else None
    envelope = Envelope(
        id="00000000-0000-0000-0000-000000000000", task=entry.task, args=list(entry.args), kwargs=dict(entry.kwargs),
        queue=queue, headers=headers, expires=fixed_expires,
        time_limit=options.get("time_limit", task.time_limit), soft_time_limit=options.get("soft_time_limit", task.soft_time_limit),
    )
    # encode() checks that the arguments are JSON (kombu's encoding) and that the body fits.
    wire = json.loads(encode(envelope, limits=app.limits))
    return {
        "name": entry.name,
        "binding": binding,
        "envelope": wire,
        "expires_seconds": float(expires) if isinstance(expires, (int, float)) and not isinstance(expires, bool) else None,
        "countdown_seconds": float(countdown) if countdown else None,
    }


def export_wrangler(app: Runtime, directory: str, *, worker_name: str | None = None, queue_prefix: str = "",
                    max_cron_triggers: int | None = None) -> Export:
    """Write the Worker and its wrangler configuration for the app's ``beat_schedule``."""
    limit = max_cron_triggers if max_cron_triggers is not None else app.limits.max_cron_triggers
    result = Export(directory=os.path.abspath(directory))
    by_cron: dict[str, list[dict[str, Any]]] = {}
    for entry in app_entries(app, allow_solar=True):
        try:
            cron = cloudflare_cron(entry.schedule)
            queue = entry.options.get("queue") or app.queue_for(entry.task, entry.args, entry.kwargs)
            cloudflare_name = cloudflare_queue_name(queue, prefix=queue_prefix, limits=app.limits)
            binding = _binding_name(cloudflare_name)
            worker_entry = _worker_entry(app, entry, binding, queue)
        except NotExpressible as exc:
            result.refused[entry.name] = str(exc)
            continue
        result.queues[binding] = cloudflare_name
        by_cron.setdefault(cron, []).append(worker_entry)
        result.crons.setdefault(cron, []).append(entry.name)
    if not by_cron:
        raise ExportError("no entry of beat_schedule can be exported as a Cron Trigger" + _refusals(result.refused))
    if len(by_cron) > limit:
        raise ExportError(
            f"{len(by_cron)} distinct cron expressions ({', '.join(sorted(by_cron))}) but a Worker can have {limit} "
            "Cron Triggers: align some entries on the same cron, pass --max-cron-triggers if your plan allows more, "
            "or run cfq-shim beat instead")
    config = {
        "name": worker_name or f"{(app.main or 'app').replace('.', '-').replace('_', '-').lower()}-beat",
        "main": "src/index.js",
        "compatibility_date": COMPATIBILITY_DATE,
        "triggers": {"crons": sorted(by_cron)},
        "queues": {"producers": [{"binding": binding, "queue": name} for binding, name in sorted(result.queues.items())]},
    }
    template = resources.files(__package__).joinpath("wrangler_worker.js").read_text(encoding="utf-8")
    data = {"namespace": str(RUN_ID_NAMESPACE), "crons": by_cron}
    worker = template.replace(_SCHEDULE_MARKER, json.dumps(data, indent=2, ensure_ascii=False), 1)
    try:
        _write_atomically(os.path.join(directory, "wrangler.json"), json.dumps(config, indent=2) + "\n")
        _write_atomically(os.path.join(directory, "src", "index.js"), worker)
    except OSError as exc:
        raise ExportError(f"cannot write to {directory!r}: {exc.strerror or exc}") from None
    return result


def _refusals(refused: dict[str, str]) -> str:
    return "".join(f"\n  {name}: {reason}" for name, reason in refused.items())


def _write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".cfq-shim-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def describe_refusals(refused: dict[str, str]) -> Sequence[str]:
    """One line per refused entry, offering the beat process."""
    return [f"not exported: {name!r}: {reason}; run `cfq-shim beat` for it" for name, reason in refused.items()]
