"""``cfq-shim emulator``: serve Cloudflare's Queues REST API on loopback, for local development and tests."""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys

import click

from ..embedded.connections import SchemaTooNew
from . import open_stand_in

__all__ = ["emulator_command"]


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep it on loopback: the stand-in has no TLS.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (printed on start).")
@click.option("--db", "db_path", default=":memory:", show_default=True,
              help="Embedded-store file that keeps queues and messages across restarts (D1 databases "
                   "go in DB.d1/); ':memory:' keeps nothing.")
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(0, 60_000),
              help="Delay added to every answer, to mimic the round trip to Cloudflare.")
@click.option("--token", envvar="CFQ_SHIM_EMULATOR_TOKEN", default=None,
              help="Accept only this API token (also from CFQ_SHIM_EMULATOR_TOKEN). Without it any token "
                   "is accepted.")
@click.option("-l", "--loglevel", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              help="Log level; 'debug' logs every request line (never headers or tokens).")
def emulator_command(host: str, port: int, db_path: str, latency_ms: int, token: str | None,
                     loglevel: str) -> None:
    """Serve Cloudflare's Queues REST API on HOST:PORT over the embedded store, and D1's query
    endpoint on SQLite (for the d1:// result backend).

    Point the official SDK (and cfq_shim's cloudflare:// transport) at it with
    CLOUDFLARE_BASE_URL=http://HOST:PORT/client/v4. Any account id is accepted.
    Request counts per endpoint: GET http://HOST:PORT/__stand-in/stats.
    """
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = open_stand_in(db_path, host=host, port=port, latency_ms=latency_ms, token=token)
    except (sqlite3.Error, SchemaTooNew) as exc:
        raise click.ClickException(f"cannot open the store --db {db_path}: {exc}") from None
    try:
        bound_port = server.start()
    except OSError as exc:
        server.service.store.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    _stop_on_sigterm()
    # One line on stdout that a parent process can read to learn the port (stderr carries logs).
    click.echo(f"cfq-shim stand-in listening: CLOUDFLARE_BASE_URL={server.base_url}")
    sys.stdout.flush()
    click.echo(f"db: {db_path}; latency: {latency_ms} ms; token: {'required' if token else 'any'}; "
               f"port {bound_port}", err=True)
    try:
        signal.pause() if hasattr(signal, "pause") else server._thread.join()  # type: ignore[union-attr]
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
        server.service.store.close()
