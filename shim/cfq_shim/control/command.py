"""``cfq-shim -A proj status``, ``inspect active|scheduled|...`` and ``control revoke|...``, shaped like
``celery status``, ``celery inspect`` and ``celery control``.

``cfq-shim inspect`` without a sub-command keeps showing the queue figures (ready, delayed, in flight,
dead letters; cfq_shim/admin.py). With one, it asks the workers through their heartbeats. As Celery's,
the commands print ``->  worker: OK`` and the reply per worker, or ``--json``; when no worker answers
they say so and exit 69 (``EX_UNAVAILABLE``).
"""

from __future__ import annotations

import json
import pprint
from typing import Any, Callable

import click

from ..admin import inspect_command as queue_figures
from ..cli import app_from_context
from ..exceptions import FeatureNotAvailable, ImproperlyConfigured
from ..runtime import Runtime
from ..transport.base import TransportError

__all__ = ["status_command", "inspect_command", "control_command"]

#: Celery's exit code when no node replied.
EX_UNAVAILABLE = 69
_NO_REPLY = "No nodes replied within time constraint"


def _call(ctx: click.Context, action: Callable[[Any], Any]) -> Any:
    app = app_from_context(ctx)
    try:
        return action(app)
    except (ImproperlyConfigured, TransportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _print_replies(ctx: click.Context, replies: dict[str, Any] | None, as_json: bool, *, summary: bool = False) -> None:
    if not replies:
        if as_json:
            click.echo(json.dumps({}))
        click.echo(f"Error: {_NO_REPLY}", err=True)
        ctx.exit(EX_UNAVAILABLE)
    assert replies is not None
    if as_json:
        click.echo(json.dumps(replies, indent=2, default=str))
        return
    for name, reply in replies.items():
        failed = isinstance(reply, dict) and "error" in reply
        click.echo(f"->  {name}: {'ERROR' if failed else 'OK'}")
        if isinstance(reply, list):
            if not reply:
                click.echo("    - empty -")
            for item in reply:
                click.echo("    * " + (item if isinstance(item, str) else pprint.pformat(item, width=100)
                                       .replace("\n", "\n      ")))
        elif isinstance(reply, dict) and set(reply) <= {"ok", "error"}:
            click.echo(f"        {reply.get('ok') or reply.get('error')}")
        else:
            click.echo("    " + pprint.pformat(reply, width=100).replace("\n", "\n    "))
    if summary:
        count = len(replies)
        click.echo(f"\n{count} node{'s' if count != 1 else ''} online.")


_DESTINATION = click.option("-d", "--destination", default=None, metavar="WORKERS",
                            help="Comma-separated worker names (celery@host). [default: every live worker]")
_TIMEOUT = click.option("-t", "--timeout", type=float, default=1.0, show_default=True,
                        help="Seconds to wait for replies (control commands).")
_JSON = click.option("-j", "--json", "as_json", is_flag=True, help="Print the replies as JSON.")


def _destination(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


@click.command("status")
@_DESTINATION
@_JSON
@click.pass_context
def status_command(ctx: click.Context, destination: str | None, as_json: bool) -> None:
    """Show the live workers (from their heartbeats), as `celery status`."""
    replies = _call(ctx, lambda app: app.control.inspect(destination=_destination(destination)).ping())
    _print_replies(ctx, replies, as_json, summary=True)


# Without a sub-command it is the queue-figures command, with that command's own options.
@click.group("inspect", invoke_without_command=True, params=list(queue_figures.params))
@click.pass_context
def inspect_command(ctx: click.Context, queues: str | None, as_json: bool, dead_letter_count: int) -> None:
    """Queue figures (no sub-command), or ask the workers: active, scheduled, reserved, registered, stats,
    ping, active_queues, revoked, query_task."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(queue_figures, queues=queues, as_json=as_json, dead_letter_count=dead_letter_count)


def _inspect_method(method: str, help_text: str) -> click.Command:
    @click.command(method, help=help_text)
    @_DESTINATION
    @_JSON
    @click.pass_context
    def command(ctx: click.Context, destination: str | None, as_json: bool) -> None:
        replies = _call(ctx, lambda app: getattr(app.control.inspect(destination=_destination(destination)), method)())
        _print_replies(ctx, replies, as_json)

    return command


for _method, _help in (
    ("active", "Tasks the workers are running, with their arguments."),
    ("scheduled", "ETA tasks held by the workers (always empty: they wait in their queue)."),
    ("reserved", "Tasks the workers have taken and not started."),
    ("registered", "Tasks each worker knows."),
    ("stats", "Counters, pool and resource use per worker."),
    ("ping", "Ask every live worker for a pong."),
    ("active_queues", "Queues each worker consumes."),
    ("revoked", "Revoked task ids."),
):
    inspect_command.add_command(_inspect_method(_method, _help))


@inspect_command.command("query_task")
@click.argument("task_ids", nargs=-1, required=True, metavar="ID...")
@_DESTINATION
@_JSON
@click.pass_context
def query_task_command(ctx: click.Context, task_ids: tuple[str, ...], destination: str | None, as_json: bool) -> None:
    """Where the given tasks are: running (active) or taken (reserved), per worker."""
    replies = _call(ctx, lambda app: app.control.inspect(destination=_destination(destination)).query_task(*task_ids))
    _print_replies(ctx, replies, as_json)


@click.group("control")
def control_command() -> None:
    """Send a command to the workers through the shared store, as `celery control`."""


def _send(ctx: click.Context, destination: str | None, timeout: float, as_json: bool,
          action: Callable[..., Any]) -> None:
    def call(app: Runtime) -> Any:
        try:
            return action(app, destination=_destination(destination), reply=True, timeout=timeout)
        except FeatureNotAvailable as exc:
            raise click.ClickException(str(exc)) from None

    replies = _call(ctx, call)
    merged = {name: reply for item in replies or [] for name, reply in item.items()}
    _print_replies(ctx, merged, as_json)


@control_command.command("revoke")
@click.argument("task_ids", nargs=-1, required=True, metavar="ID...")
@_DESTINATION
@_TIMEOUT
@_JSON
@click.pass_context
def revoke_command(ctx: click.Context, task_ids: tuple[str, ...], destination: str | None, timeout: float,
                   as_json: bool) -> None:
    """Revoke tasks: workers skip them and record them REVOKED."""
    _send(ctx, destination, timeout, as_json, lambda app, **kw: app.control.revoke(list(task_ids), **kw))


@control_command.command("terminate")
@click.argument("signal_name", metavar="SIGNAL")
@click.argument("task_ids", nargs=-1, required=True, metavar="ID...")
@_DESTINATION
@_TIMEOUT
@_JSON
@click.pass_context
def terminate_command(ctx: click.Context, signal_name: str, task_ids: tuple[str, ...], destination: str | None,
                      timeout: float, as_json: bool) -> None:
    """Revoke tasks and end the processes running them with SIGNAL (prefork pool)."""
    _send(ctx, destination, timeout, as_json,
          lambda app, **kw: app.control.terminate(list(task_ids), signal=signal_name, **kw))


@control_command.command("rate_limit")
@click.argument("task_name")
@click.argument("rate_limit")
@_DESTINATION
@_TIMEOUT
@_JSON
@click.pass_context
def rate_limit_command(ctx: click.Context, task_name: str, rate_limit: str, destination: str | None, timeout: float,
                       as_json: bool) -> None:
    """Set a task's rate limit on the workers (10/s, 100/m, 0 to lift it)."""
    _send(ctx, destination, timeout, as_json, lambda app, **kw: app.control.rate_limit(task_name, rate_limit, **kw))


@control_command.command("time_limit")
@click.argument("task_name")
@click.argument("soft", type=float)
@click.argument("hard", type=float, required=False)
@_DESTINATION
@_TIMEOUT
@_JSON
@click.pass_context
def time_limit_command(ctx: click.Context, task_name: str, soft: float, hard: float | None, destination: str | None,
                       timeout: float, as_json: bool) -> None:
    """Set a task's soft (and hard) time limit on the workers, in seconds."""
    _send(ctx, destination, timeout, as_json,
          lambda app, **kw: app.control.time_limit(task_name, soft=soft, hard=hard, **kw))


@control_command.command("add_consumer")
@click.argument("queue")
@_DESTINATION
@_TIMEOUT
@_JSON
@click.pass_context
def add_consumer_command(ctx: click.Context, queue: str, destination: str | None, timeout: float, as_json: bool) -> None:
    """Make the workers consume QUEUE too."""
    _send(ctx, destination, timeout, as_json, lambda app, **kw: app.control.add_consumer(queue, **kw))


@control_command.command("cancel_consumer")
@click.argument("queue")
@_DESTINATION
@_TIMEOUT
@_JSON
@click.pass_context
def cancel_consumer_command(ctx: click.Context, queue: str, destination: str | None, timeout: float,
                            as_json: bool) -> None:
    """Make the workers stop consuming QUEUE."""
    _send(ctx, destination, timeout, as_json, lambda app, **kw: app.control.cancel_consumer(queue, **kw))


@control_command.command("shutdown")
@_DESTINATION
@_TIMEOUT
@_JSON
@click.pass_context
def shutdown_command(ctx: click.Context, destination: str | None, timeout: float, as_json: bool) -> None:
    """Ask the workers for a warm shutdown."""
    _send(ctx, destination, timeout, as_json, lambda app, **kw: app.control.shutdown(**kw))
