"""``cfq-shim -A proj inspect`` (read-only queue figures) and ``cfq-shim -A proj purge``.

``inspect`` lists, per queue the app knows (or ``-Q``): messages ready, delayed, in flight (leased, not
settled) and in its dead-letter queue; for an app with the outbox producer, the outbox's depth, the age
of its oldest message and the forwarders' last push error. With ``--dead-letters N`` it also shows the reasons of up to N
dead letters per queue (peeked, never leased). It changes nothing.

``purge`` deletes every message of the app's queues (or ``-Q``) after a confirmation (``-f/--force``
skips it); dead-letter queues are kept unless ``--dead-letters`` is given.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Sequence

import click

from .cli import app_from_context
from .deadletter import parse as parse_dead_letter
from .exceptions import ImproperlyConfigured
from .naming import dead_letter_queue_name
from .provision import import_tasks_for_command, planned_queues
from .runtime import Runtime
from .sending.outbox import OutboxStats
from .sending.outbox_producer import OutboxProducer
from .transport.base import QueueNotFound, QueueStats, Transport, TransportError

__all__ = ["inspect_command", "purge_command", "queue_stats"]


def _queues(app: Runtime, option: str | None) -> list[str]:
    """``-Q`` as given, else every queue ``provision`` plans (the tasks imported as a worker imports them)."""
    if option:
        return [q.strip() for q in option.split(",") if q.strip()]
    import_tasks_for_command(app)
    return planned_queues(app)


def _transport(app: Runtime) -> Transport:
    try:
        return app.transport
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None


def queue_stats(transport: Any, queues: Sequence[str]) -> list[QueueStats | None]:
    """Figures per queue; None for a queue that does not exist yet."""
    result: list[QueueStats | None] = []
    for name in queues:
        try:
            result.append(transport.stats(name))
        except QueueNotFound:
            result.append(None)
    return result


@click.command("inspect")
@click.option("-Q", "--queues", default=None, metavar="A,B", help="Comma-separated queues. [default: the app's]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--dead-letters", "dead_letter_count", type=click.IntRange(min=0), default=0,
              help="Also show the reasons of up to this many dead letters per queue.")
@click.pass_context
def inspect_command(ctx: click.Context, queues: str | None, as_json: bool, dead_letter_count: int) -> None:
    """Show ready, delayed, in-flight and dead-lettered messages per queue (read-only)."""
    app = app_from_context(ctx)
    names = _queues(app, queues)
    transport = _transport(app)
    try:
        stats = queue_stats(transport, names)
        letters = {name: _peek_dead_letters(transport, name, dead_letter_count) for name in names} \
            if dead_letter_count else {}
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    outbox = _outbox_stats(app)
    table = _transactional_outbox_stats(app)
    if as_json:
        rows = []
        for name, stat in zip(names, stats):
            row: dict[str, Any] = {"queue": name, "exists": stat is not None}
            if stat is not None:
                row.update({k: v for k, v in asdict(stat).items() if k != "queue"})
            if dead_letter_count:
                row["dead_letter_samples"] = letters.get(name, [])
            rows.append(row)
        report: dict[str, Any] = {"queues": rows}
        if outbox is not None:
            report["outbox"] = asdict(outbox)
        if table is not None:
            report["transactional_outbox"] = asdict(table)
        click.echo(json.dumps(report, indent=2))
        return
    width = max([len("queue")] + [len(n) for n in names])
    click.echo(f"{'queue':<{width}}  {'ready':>8}  {'delayed':>8}  {'in flight':>9}  {'dead letters':>12}")
    for name, stat in zip(names, stats):
        if stat is None:
            click.echo(f"{name:<{width}}  {'(queue does not exist yet)':>43}")
            continue
        click.echo(
            f"{name:<{width}}  {stat.ready:>8}  {stat.delayed:>8}  {stat.in_flight:>9}  {stat.dead_letters:>12}"
        )
        for sample in letters.get(name, []):
            click.echo(f"    dead letter: {sample['task'] or '?'}[{sample['task_id'] or '?'}] {sample['reason']}"
                       f"{': ' + sample['exc_type'] if sample['exc_type'] else ''}"
                       f"{' ' + sample['message'] if sample['message'] else ''}")
    for waiting in (outbox, table):
        if waiting is not None:
            click.echo(f"outbox {waiting.path}: {waiting.depth} message(s) waiting"
                       + (f", the oldest for {waiting.oldest_age_seconds:.1f} s" if waiting.depth else "")
                       + (f"; last push error {waiting.last_error_age_seconds or 0:.0f} s ago: {waiting.last_error}"
                          if waiting.last_error else ""))


def _outbox_stats(app: Runtime) -> OutboxStats | None:
    """The outbox figures of an app that sends through one (the outbox producer mode), else None."""
    try:
        producer = app.producer
        if not isinstance(producer, OutboxProducer):
            return None
        return producer.outbox.stats(producer.destination)
    except TransportError as exc:  # the outbox file cannot be opened or read
        raise click.ClickException(str(exc)) from None


def _transactional_outbox_stats(app: Runtime) -> OutboxStats | None:
    """The Django transactional outbox's figures (one count and one min over its table), when it is on."""
    if not app.conf.cfq_transactional_outbox:
        return None
    from .django.outbox import enqueue  # imports Django's models: only for an app that uses them

    try:
        return enqueue.stats(app)  # type: ignore[arg-type]
    except (ImproperlyConfigured, TransportError) as exc:
        raise click.ClickException(str(exc)) from None


def _peek_dead_letters(transport: Any, name: str, count: int) -> list[dict[str, Any]]:
    try:
        peeked = transport.peek(dead_letter_queue_name(name), batch_size=count)
    except (QueueNotFound, NotImplementedError):
        return []
    samples = []
    for message in peeked:
        record = parse_dead_letter(message.body)
        samples.append({
            "reason": record.reason, "task": record.task, "task_id": record.task_id,
            "exc_type": record.exc_type, "message": record.message[:200],
            "dead_lettered_at": record.dead_lettered_at,
        })
    return samples


@click.command("purge")
@click.option("-Q", "--queues", default=None, metavar="A,B", help="Comma-separated queues. [default: the app's]")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dead-letters", "include_dead_letters", is_flag=True,
              help="Also purge the queues' dead-letter queues.")
@click.pass_context
def purge_command(ctx: click.Context, queues: str | None, force: bool, include_dead_letters: bool) -> None:
    """Delete every message of the app's queues (leased ones too)."""
    app = app_from_context(ctx)
    names = _queues(app, queues)
    if include_dead_letters:
        names += [dead_letter_queue_name(n) for n in list(names)]
    transport = _transport(app)
    try:
        existing = [(n, s) for n, s in zip(names, queue_stats(transport, names)) if s is not None]
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    total = sum(s.ready + s.delayed + s.in_flight for _, s in existing)
    if not existing or total == 0:
        click.echo("No messages to purge.", err=True)
        return
    listing = ", ".join(n for n, _ in existing)
    if not force:
        click.confirm(f"Purge {total} message(s) from {len(existing)} queue(s): {listing}?", abort=True, err=True)
    deleted = 0
    try:
        for name, _ in existing:
            deleted += transport.purge(name)
    except TransportError as exc:
        raise click.ClickException(f"Purge stopped after {deleted} message(s): {exc}") from None
    click.echo(f"Purged {deleted} message(s) from {len(existing)} queue(s).", err=True)
