"""``cfq-shim -A proj provision [--dry-run]``: create the app's queues on Cloudflare.

Reads every queue the app knows (``app.queues()``: ``task_default_queue``, each task's ``queue=``,
``task_routes``, ``task_queues``) and those ``-Q`` names (queues only call sites name), after importing the
tasks as a worker does, and, for each, idempotently creates:

1. its dead-letter queue (:func:`cfq_shim.naming.dead_letter_queue_name`) with a default ``http_pull``
   consumer (no dead-letter queue of its own), so dead letters can be pulled or peeked to replay them,
2. the queue itself,
3. an ``http_pull`` consumer with the app's settings (``app.queue_settings``, which is
   :func:`cfq_shim.queue_policy.consumer_settings`: the same the embedded store gets): ``batch_size``,
   ``max_retries``, ``retry_delay`` (0: a lapsed lease comes back right after the lease),
   ``visibility_timeout_ms`` and the dead-letter queue.

Running it again changes nothing. A queue whose consumer differs from the plan (set by hand, or by
an older version that used ``retry_delay = Task.default_retry_delay``) is updated, and each difference
is printed (``was -> now``). ``--dry-run`` only prints the plan and the equivalent ``wrangler`` commands,
without contacting the service. Queue names go through the same mapping
as the transport (:mod:`cfq_shim.transport.cloudflare_names`), so the plan shows the real names.
"""

from __future__ import annotations

import math
import os
import shlex
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import parse_qsl, urlsplit

import click

from .cli import app_from_context
from .exceptions import ImproperlyConfigured
from .limits import Limits
from .naming import DEAD_LETTER_SUFFIX
from .runtime import Runtime
from .transport.base import QueueNotFound, QueueSettings, Transport, TransportError
from .transport.cloudflare_names import cloudflare_queue_name

__all__ = ["QueuePlan", "planned_queues", "plan_queues", "wrangler_commands", "apply_plan", "provision_command"]


@dataclass(frozen=True)
class QueuePlan:
    """One app queue: its Cloudflare name, its consumer settings, and its dead-letter queue."""

    queue: str
    cloudflare_name: str
    settings: QueueSettings
    #: Cloudflare name of the dead-letter queue (None: exhausted messages are deleted).
    dead_letter_cloudflare_name: str | None


def _prefix_for(broker_url: str) -> str:
    """The queue prefix the cloudflare:// transport will use (URL option, else the environment)."""
    from .transport.cloudflare import PREFIX_VARIABLE

    options = dict(parse_qsl(urlsplit(broker_url).query)) if broker_url.startswith("cloudflare:") else {}
    return options.get("queue_prefix", os.environ.get(PREFIX_VARIABLE, ""))


def planned_queues(app: Runtime, extra: Sequence[str] = ()) -> list[str]:
    """Every queue the app knows (``task_default_queue``, each task's ``queue=``, ``task_routes``,
    ``task_queues``) and ``extra`` (queues only call sites name), without dead-letter queues, which go with
    their queue. ``provision``, ``inspect`` and ``purge`` all cover this list."""
    names = dict.fromkeys([*app.queues(), *extra])
    return [name for name in names if not name.endswith(DEAD_LETTER_SUFFIX)]


def import_tasks_for_command(app: Runtime) -> None:
    """Import the app's tasks as a worker does (Django's checks included), so a command sees the queues of
    tasks only views import; a configuration error is a one-line click error."""
    try:
        app.import_default_modules()
    except ImproperlyConfigured as exc:
        raise click.ClickException(str(exc)) from None


def plan_queues(app: Runtime, *, prefix: str | None = None, extra_queues: Sequence[str] = ()) -> list[QueuePlan]:
    """The plan for every queue of :func:`planned_queues` (dead-letter queues are planned with their queue)."""
    limits: Limits = app.limits
    on_cloudflare = app.broker_url.startswith("cloudflare:")
    if prefix is None:
        prefix = _prefix_for(app.broker_url)

    def name_of(queue: str) -> str:
        # Only Cloudflare restricts names; the embedded store keeps Celery's as they are.
        return cloudflare_queue_name(queue, prefix=prefix, limits=limits) if on_cloudflare else queue

    plans = []
    for queue in planned_queues(app, extra_queues):
        settings = app.queue_settings(queue)
        dlq = settings.dead_letter_queue
        plans.append(QueuePlan(
            queue=queue,
            cloudflare_name=name_of(queue),
            settings=settings,
            dead_letter_cloudflare_name=name_of(dlq) if dlq else None,
        ))
    return plans


def wrangler_commands(plans: Sequence[QueuePlan]) -> list[str]:
    """The ``wrangler`` commands that build the same queues and consumers by hand."""
    commands: list[str] = []
    for plan in plans:
        if plan.dead_letter_cloudflare_name:
            dlq = shlex.quote(plan.dead_letter_cloudflare_name)
            commands.append(f"npx wrangler queues create {dlq}")
            commands.append(f"npx wrangler queues consumer http add {dlq}")
        commands.append(f"npx wrangler queues create {shlex.quote(plan.cloudflare_name)}")
        s = plan.settings
        consumer = [
            "npx wrangler queues consumer http add", shlex.quote(plan.cloudflare_name),
            f"--batch-size {s.batch_size}",
            f"--message-retries {s.max_retries}",
            f"--retry-delay-secs {s.retry_delay_seconds}",
            # wrangler takes whole seconds; rounding up never shortens a lease.
            f"--visibility-timeout-secs {math.ceil(s.visibility_timeout_ms / 1000)}",
        ]
        if plan.dead_letter_cloudflare_name:
            consumer.append(f"--dead-letter-queue {shlex.quote(plan.dead_letter_cloudflare_name)}")
        commands.append(" ".join(consumer))
    return commands


def describe(plan: QueuePlan) -> str:
    s = plan.settings
    dlq = plan.dead_letter_cloudflare_name or "none (exhausted messages are deleted)"
    return (f"{plan.queue} -> {plan.cloudflare_name}: http_pull consumer batch_size={s.batch_size} "
            f"max_retries={s.max_retries} retry_delay={s.retry_delay_seconds}s "
            f"visibility_timeout={s.visibility_timeout_ms}ms dead_letter_queue={dlq}")


def differences(plans: Sequence[QueuePlan], transport: Transport) -> dict[str, dict[str, tuple[object, object]]]:
    """For each planned queue that exists with other consumer settings: ``field -> (now, planned)``.
    Queues not created yet are left out (they get the plan)."""
    found: dict[str, dict[str, tuple[object, object]]] = {}
    for plan in plans:
        try:
            current = transport.queue_settings(plan.queue)
        except QueueNotFound:
            continue
        changed = current.changed_fields(plan.settings)
        if changed:
            found[plan.queue] = changed
    return found


def describe_difference(queue: str, changed: dict[str, tuple[object, object]]) -> str:
    return f"{queue}: " + ", ".join(f"{field} {was!r} -> {now!r}" for field, (was, now) in sorted(changed.items()))


def apply_plan(plans: Sequence[QueuePlan], transport: Transport) -> None:
    """Create each dead-letter queue, queue and consumer through ``transport`` (idempotent); a consumer
    whose settings differ from the plan is updated to it."""
    for plan in plans:
        if plan.settings.dead_letter_queue:
            transport.declare_queue(plan.settings.dead_letter_queue)
        transport.declare_queue(plan.queue, plan.settings)


@click.command("provision")
@click.option("-Q", "--queues", default=None, metavar="A,B",
              help="Also create these queues: ones only call sites name (apply_async(queue='lopri'), "
                   "send_task(..., queue=...)) or a router function returns.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the equivalent wrangler commands; change nothing.")
@click.pass_context
def provision_command(ctx: click.Context, queues: str | None, dry_run: bool) -> None:
    """Create the app's queues, dead-letter queues and http_pull consumers on Cloudflare.

    Plans task_default_queue, every task's queue=, the queues task_routes and task_queues name, and -Q.
    Uses the app's broker (cloudflare://ACCOUNT_ID, with CLOUDFLARE_API_TOKEN and, for the local
    stand-in, CLOUDFLARE_BASE_URL). Safe to run again: existing queues are kept; a consumer whose
    settings differ is updated, and each difference is printed.
    """

    app = app_from_context(ctx)
    extra = [name.strip() for name in (queues or "").split(",") if name.strip()]
    import_tasks_for_command(app)
    plans = plan_queues(app, extra_queues=extra)
    target = urlsplit(app.broker_url)
    click.echo(f"{'Plan' if dry_run else 'Provisioning'}: {len(plans)} queue(s) on {target.scheme}://"
               f"{target.hostname or ''}")
    for plan in plans:
        click.echo(f"  {describe(plan)}")
    if dry_run:  # offline: no credentials needed, nothing opened or created
        click.echo("Equivalent wrangler commands:")
        for command in wrangler_commands(plans):
            click.echo(f"  {command}")
        return
    try:
        transport = app.transport
        changed = differences(plans, transport)
        if changed:
            click.echo("Updating consumer settings that differ from the plan (was -> now):")
            for queue, fields in changed.items():
                click.echo(f"  {describe_difference(queue, fields)}")
        apply_plan(plans, transport)
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Done: {len(plans)} queue(s), their dead-letter queues and consumers are in place.")
