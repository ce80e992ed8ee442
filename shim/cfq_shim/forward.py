"""``cfq-shim -A proj forward``: push an app's outbox to its queues (the ``outbox`` producer mode).

Every producing process forwards its own sends by default (``cfq_outbox_forwarder = "thread"``). Run
this command as well, or instead (``"external"``), for web servers with many short-lived processes, or
to push what producers left when they exited. Several forwarders may run on one outbox file at once;
each claims disjoint batches (cfq_shim/sending/outbox.py says how, and what is guaranteed). On Django
with ``cfq_transactional_outbox`` on, it drains the outbox table in the project's database as well
(cfq_shim/django/outbox; ``--database`` names another alias).

It runs until SIGTERM/SIGINT (then finishes the pushes in flight); ``--once`` pushes what the outbox
holds and exits: 0 when it is empty, 1 when messages are left after ``--timeout`` seconds.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click

from .cli import app_from_context
from .exceptions import ImproperlyConfigured
from .sending.forwarder import Forwarder
from .sending.outbox_producer import OutboxProducer
from .transport.base import TransportError
from .worker.banner import configure_logging

__all__ = ["forward_command"]

logger = logging.getLogger("cfq_shim.outbox")


@click.command("forward")
@click.option("--once", is_flag=True, help="Push what the outbox holds now, then exit (1 if messages are left).")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="With --once: give up after this many seconds.")
@click.option("--database", "database", default=None, metavar="ALIAS",
              help="Django transactional outbox: the database alias whose outbox table to drain "
                   "(default: the router's choice for the outbox model, usually 'default').")
@click.option("-l", "--loglevel", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], case_sensitive=False))
@click.pass_context
def forward_command(ctx: click.Context, once: bool, timeout_seconds: float, database: str | None,
                    loglevel: str) -> None:
    """Push the app's outbox (the outbox producer mode, and the Django transactional outbox) to its queues."""
    app = app_from_context(ctx)
    configure_logging(loglevel)
    try:
        producer = app.producer
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    forwarders: list[Forwarder] = []
    if isinstance(producer, OutboxProducer):
        forwarders.append(producer.make_forwarder())
    if app.conf.cfq_transactional_outbox:
        forwarders.append(_database_forwarder(app, database))
    elif database is not None:
        raise click.ClickException("--database names the Django transactional outbox's database, but "
                                   "cfq_transactional_outbox is off for this app")
    if not forwarders:
        raise click.ClickException(
            "this app does not send through an outbox: set app.conf.cfq_producer = 'outbox' or add "
            "?producer=outbox to its cloudflare:// broker URL (or, on Django, turn on "
            "cfq_transactional_outbox)"
        )
    if once:
        left = 0
        for forwarder in forwarders:
            try:
                waiting = forwarder.drain(timeout_seconds)
            except TransportError as exc:  # the outbox's database or file cannot be read
                raise click.ClickException(str(exc)) from None
            click.echo(f"outbox {forwarder.outbox.path}: pushed {forwarder.pushed} message(s) in "
                       f"{forwarder.pushes} push(es); {waiting} left", err=True)
            left += waiting
        ctx.exit(1 if left else 0)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for forwarder in forwarders:
            forwarder.start()
            logger.info("Forwarding the outbox %s to %s.", forwarder.outbox.path, forwarder.destination)
        while not stop.wait(1.0):
            pass
        logger.info("Stopping: finishing the pushes in flight.")
        for forwarder in forwarders:
            forwarder.stop(timeout_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _database_forwarder(app: Any, database: str | None) -> Forwarder:
    """The forwarder of the Django transactional outbox (imported here: it needs Django set up)."""
    from .django.outbox import enqueue

    try:
        return enqueue.make_forwarder(app, using=database)
    except (ImproperlyConfigured, TransportError) as exc:
        raise click.ClickException(str(exc)) from None
