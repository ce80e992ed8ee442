"""``cfq-shim -A proj dlq list|show|replay|purge``: read and repair the dead-letter queues.

Every sub-command works on the dead-letter queues (``<queue>-dlq``) of the app's queues, or of the
queues named with ``-Q/--queue``, through the app's transport: the embedded store or Cloudflare.
Status lines go to stderr; listings and records to stdout.
"""

from __future__ import annotations

import json
from typing import Sequence

import click

from ..cli import app_from_context
from ..deadletter import REASONS
from ..runtime import Runtime
from ..transport.base import QueueNotFound, Transport, TransportError
from .access import DEFAULT_LEASE_SECONDS, DeadLetterQueue, replay
from .entries import DeadLetterEntry
from .selection import Selection, parse_since

__all__ = ["dlq_command"]

_QUEUE_OPTION = click.option(
    "-Q", "--queue", "queues", multiple=True, metavar="QUEUE",
    help="An app queue whose dead letters to use (repeat, or A,B). [default: every queue of the app]")
_LEASE_OPTION = click.option(
    "--lease-seconds", type=click.IntRange(1, 43_200), default=DEFAULT_LEASE_SECONDS, show_default=True,
    help="How long the command holds the dead letters it reads; after a crash they come back after this.")


def _transport(app: Runtime) -> Transport:
    try:
        return app.transport
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None


def _queue_names(app: Runtime, queues: Sequence[str]) -> list[str]:
    names = [q.strip() for option in queues for q in option.split(",") if q.strip()]
    return list(dict.fromkeys(names or app.queues()))


def _dead_letter_queues(ctx: click.Context, queues: Sequence[str], lease_seconds: int) -> list[DeadLetterQueue]:
    """The existing dead-letter queues; a missing one is said plainly on stderr. None left: exit 1."""
    app = app_from_context(ctx)
    transport = _transport(app)
    found = []
    for name in _queue_names(app, queues):
        dlq = DeadLetterQueue(transport, name, lease_seconds=lease_seconds)
        try:
            exists = dlq.exists()
        except TransportError as exc:
            raise click.ClickException(str(exc)) from None
        if exists:
            found.append(dlq)
        else:
            hint = "" if transport.auto_declare_queues else " (run `cfq-shim -A APP provision` to create it)"
            click.echo(f"Queue {dlq.name!r} does not exist: nothing was dead-lettered from {name!r} yet{hint}.",
                       err=True)
    if not found:
        ctx.exit(1)
    return found


def _selection(task: str | None = None, ids: Sequence[str] = (), reason: str | None = None,
               since: str | None = None) -> Selection:
    try:
        return Selection(task=task, ids=frozenset(ids), reason=reason, since=parse_since(since) if since else None)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _read(dlqs: Sequence[DeadLetterQueue], selection: Selection) -> list[DeadLetterEntry]:
    """Every selected dead letter of ``dlqs``, oldest first; leases are handed back at once."""
    found: list[DeadLetterEntry] = []
    for dlq in dlqs:
        try:
            with dlq.scan() as scan:
                found.extend(e for e in scan.entries() if selection.matches(e))
                if scan.partial:
                    click.echo(f"{dlq.name}: read the first {scan.max_messages} dead letters only.", err=True)
        except TransportError as exc:
            raise click.ClickException(f"reading {dlq.name!r} failed: {exc}") from None
    return sorted(found, key=lambda e: (e.dead_lettered_at is None, e.dead_lettered_at or 0))


def _say_empty(dlqs: Sequence[DeadLetterQueue], filtered: bool) -> None:
    names = ", ".join(d.name for d in dlqs)
    if filtered:
        click.echo(f"No dead letters in {names} match.", err=True)
    else:
        click.echo(f"No dead letters in {names}.", err=True)


@click.group("dlq")
def dlq_command() -> None:
    """List, show, replay and purge dead letters (the <queue>-dlq queues)."""


@dlq_command.command("list")
@_QUEUE_OPTION
@click.option("--task", default=None, help="Only dead letters of this task name.")
@click.option("--reason", type=click.Choice(sorted(REASONS)), default=None, help="Only dead letters with this reason.")
@click.option("--since", default=None, metavar="WHEN",
              help="Only dead letters from this time on: 30m, 2h, 1d (ago) or an ISO time.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many (the newest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per dead letter) instead of a table.")
@_LEASE_OPTION
@click.pass_context
def list_command(ctx: click.Context, queues: Sequence[str], task: str | None, reason: str | None,
                 since: str | None, limit: int, as_json: bool, lease_seconds: int) -> None:
    """List dead letters: time, queue, task, task id, arguments, exception and attempts."""
    selection = _selection(task=task, reason=reason, since=since)
    dlqs = _dead_letter_queues(ctx, queues, lease_seconds)
    entries = _read(dlqs, selection)
    total = len(entries)
    entries = entries[-limit:]
    if as_json:
        click.echo(json.dumps({"dead_letters": [e.summary() for e in entries], "total": total}, indent=2))
        return
    if not entries:
        _say_empty(dlqs, filtered=selection != Selection())
        return
    _print_table(entries)
    if total > len(entries):
        click.echo(f"Showing the newest {len(entries)} of {total}; use --limit to see more.", err=True)


def _print_table(entries: Sequence[DeadLetterEntry]) -> None:
    rows = [("time", "queue", "task", "task id", "args", "exception", "attempts")]
    for e in entries:
        moment = e.dead_lettered_at
        exception = e.exception
        rows.append((
            moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "?",
            e.queue, e.task or "?", e.task_id or e.message_id, e.args_preview(),
            exception if len(exception) <= 60 else exception[:59] + "…",
            str(e.record.attempts or e.message.attempts),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@dlq_command.command("show")
@click.argument("ident", metavar="ID")
@_QUEUE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@_LEASE_OPTION
@click.pass_context
def show_command(ctx: click.Context, ident: str, queues: Sequence[str], as_json: bool, lease_seconds: int) -> None:
    """Print the full dead letter with task id (or message id) ID: the record, the original envelope
    and the traceback."""
    dlqs = _dead_letter_queues(ctx, queues, lease_seconds)
    entries = _read(dlqs, _selection(ids=[ident]))
    if not entries:
        raise click.ClickException(f"no dead letter with task id or message id {ident!r} in "
                                   f"{', '.join(d.name for d in dlqs)}")
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry.full(), indent=2, ensure_ascii=False))
            continue
        data = entry.full()
        for key in ("task", "task_id", "message_id", "queue", "dead_letter_queue", "reason", "exc_type",
                    "exception", "attempts", "hostname", "dead_lettered_at"):
            click.echo(f"{key + ':':<19}{'' if data[key] is None else data[key]}")
        if data["truncated"]:
            click.echo(f"{'truncated:':<19}yes (the record was shortened to fit the message size limit)")
        click.echo("original envelope:")
        original = data["original"]
        text = json.dumps(original, indent=2, ensure_ascii=False) if isinstance(original, dict) else original
        click.echo("  " + text.replace("\n", "\n  "))
        click.echo("traceback:")
        click.echo("  " + (data["traceback"] or "(none)").rstrip().replace("\n", "\n  "))


@dlq_command.command("replay")
@_QUEUE_OPTION
@click.option("--task", default=None, help="Replay the dead letters of this task name.")
@click.option("--id", "ids", multiple=True, metavar="ID", help="Replay this task id or message id (repeatable).")
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter (of the selected queues).")
@click.option("--reason", type=click.Choice(sorted(REASONS)), default=None, help="Only dead letters with this reason.")
@click.option("--since", default=None, metavar="WHEN", help="Only dead letters from this time on (30m, 2h, ISO).")
@click.option("--reset-retries", is_flag=True, help="Start the task's retry count again at 0.")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; change nothing.")
@_LEASE_OPTION
@click.pass_context
def replay_command(ctx: click.Context, queues: Sequence[str], task: str | None, ids: Sequence[str],
                   replay_all: bool, reason: str | None, since: str | None, reset_retries: bool,
                   dry_run: bool, lease_seconds: int) -> None:
    """Send dead letters back to their original queue, with their original task id.

    A dead letter is removed only after its copy was accepted by the queue: a crash mid-replay loses
    nothing (at worst a task is replayed twice)."""
    if not (task or ids or replay_all):
        raise click.UsageError("say what to replay: --task NAME, --id ID or --all")
    selection = _selection(task=task, ids=ids, reason=reason, since=since)
    dlqs = _dead_letter_queues(ctx, queues, lease_seconds)
    verb = "Would replay" if dry_run else "Replayed"
    replayed = skipped = 0
    for dlq in dlqs:
        try:
            report = replay(dlq, selection, reset=reset_retries, dry_run=dry_run)
        except TransportError as exc:
            raise click.ClickException(f"replaying from {dlq.name!r} stopped: {exc}") from None
        for entry in report.replayed:
            click.echo(f"{verb} {entry.task or '?'}[{entry.task_id or entry.message_id}] -> {entry.queue}")
        for entry, why in report.skipped:
            click.echo(f"Skipped {entry.task or '?'}[{entry.task_id or entry.message_id}]: {why}", err=True)
        replayed += len(report.replayed)
        skipped += len(report.skipped)
    if not replayed and not skipped:
        _say_empty(dlqs, filtered=True)
        return
    click.echo(f"{verb} {replayed} dead letter(s){f'; {skipped} skipped' if skipped else ''}.", err=True)
    if skipped:
        ctx.exit(1)


@dlq_command.command("purge")
@_QUEUE_OPTION
@click.option("--task", default=None, help="Only the dead letters of this task name.")
@click.option("--id", "ids", multiple=True, metavar="ID", help="Only this task id or message id (repeatable).")
@click.option("--reason", type=click.Choice(sorted(REASONS)), default=None, help="Only dead letters with this reason.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@_LEASE_OPTION
@click.pass_context
def purge_command(ctx: click.Context, queues: Sequence[str], task: str | None, ids: Sequence[str],
                  reason: str | None, force: bool, lease_seconds: int) -> None:
    """Delete dead letters for good (all of them, or those selected). Asks first."""
    selection = _selection(task=task, ids=ids, reason=reason)
    dlqs = _dead_letter_queues(ctx, queues, lease_seconds)
    if selection == Selection():
        _purge_all(dlqs, force)
        return
    deleted = 0
    for dlq in dlqs:
        try:
            with dlq.scan() as scan:
                chosen = [e for e in scan.entries() if selection.matches(e)]
                if not chosen:
                    continue
                if not force and not click.confirm(
                        f"Delete {len(chosen)} dead letter(s) from {dlq.name}?", err=True):
                    continue  # the scan hands them back
                scan.remove(chosen)
                deleted += len(chosen)
        except TransportError as exc:
            raise click.ClickException(f"purging {dlq.name!r} stopped after {deleted}: {exc}") from None
    if not deleted:
        _say_empty(dlqs, filtered=True)
        return
    click.echo(f"Deleted {deleted} dead letter(s).", err=True)


def _purge_all(dlqs: Sequence[DeadLetterQueue], force: bool) -> None:
    try:
        depths = [(dlq, dlq.depth()) for dlq in dlqs]
    except (QueueNotFound, TransportError) as exc:
        raise click.ClickException(str(exc)) from None
    depths = [(dlq, n) for dlq, n in depths if n]
    if not depths:
        _say_empty(dlqs, filtered=False)
        return
    total = sum(n for _, n in depths)
    listing = ", ".join(f"{dlq.name} ({n})" for dlq, n in depths)
    if not force:
        click.confirm(f"Delete {total} dead letter(s) for good: {listing}?", abort=True, err=True)
    deleted = 0
    try:
        for dlq, _ in depths:
            deleted += dlq.purge()
    except TransportError as exc:
        raise click.ClickException(f"purge stopped after {deleted} dead letter(s): {exc}") from None
    click.echo(f"Deleted {deleted} dead letter(s) from {len(depths)} queue(s).", err=True)
