"""``cfq-shim -A proj forward``: push an app's outbox to its queues (the ``outbox`` producer mode).

Every producing process forwards its own sends by default (``cfq_outbox_forwarder = "thread"``). Run
this command as well, or instead (``"external"``), for web servers with many short-lived processes, or
to push what producers left when they exited. Several forwarders may run on one outbox file at once;
each claims disjoint batches (cfq_shim/sending/outbox.py says how, and what is guaranteed).

It runs until SIGTERM/SIGINT (then finishes the pushes in flight); ``--once`` pushes what the outbox
holds and exits: 0 when it is empty, 1 when messages are left after ``--timeout`` seconds.
"""

from __future__ import annotations

import logging
import signal
import threading

import click

from .cli import app_from_context
from .sending.outbox_producer import OutboxProducer
from .transport.base import TransportError
from .worker.banner import configure_logging

__all__ = ["forward_command"]

logger = logging.getLogger("cfq_shim.outbox")


@click.command("forward")
@click.option("--once", is_flag=True, help="Push what the outbox holds now, then exit (1 if messages are left).")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="With --once: give up after this many seconds.")
@click.option("-l", "--loglevel", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], case_sensitive=False))
@click.pass_context
def forward_command(ctx: click.Context, once: bool, timeout_seconds: float, loglevel: str) -> None:
    """Push the app's outbox (the outbox producer mode) to its queues."""
    app = app_from_context(ctx)
    configure_logging(loglevel)
    try:
        producer = app.producer
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    if not isinstance(producer, OutboxProducer):
        raise click.ClickException(
            "this app does not send through an outbox: set app.conf.cfq_producer = 'outbox' or add "
            "?producer=outbox to its cloudflare:// broker URL"
        )
    forwarder = producer.make_forwarder()
    if once:
        left = forwarder.drain(timeout_seconds)
        click.echo(f"outbox {producer.outbox.path}: pushed {forwarder.pushed} message(s) in {forwarder.pushes} "
                   f"push(es); {left} left", err=True)
        ctx.exit(1 if left else 0)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        forwarder.start()
        logger.info("Forwarding the outbox %s to %s.", producer.outbox.path, producer.destination)
        while not stop.wait(1.0):
            pass
        logger.info("Stopping: finishing the pushes in flight.")
        forwarder.stop(timeout_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
