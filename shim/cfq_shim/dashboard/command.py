"""``cfq-shim -A proj dashboard [--host 127.0.0.1] [--port 5555]``: serve the dashboard with waitress."""

from __future__ import annotations

import click

from ..cli import app_from_context
from .security import parse_basic_auth
from .web import create_app

__all__ = ["dashboard_command"]

AUTH_VARIABLE = "CFQ_SHIM_DASHBOARD_AUTH"


@click.command("dashboard")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes it to the network: use --basic-auth.")
@click.option("--port", default=5555, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (Flower's default).")
@click.option("--allow-actions", is_flag=True, help="Allow replaying and purging dead letters from the pages.")
@click.option("--basic-auth", "basic_auth", envvar=AUTH_VARIABLE, default=None, metavar="USER:PASSWORD",
              help=f"Require HTTP basic auth (also from ${AUTH_VARIABLE}).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Serving threads.")
@click.pass_context
def dashboard_command(ctx: click.Context, host: str, port: int, allow_actions: bool, basic_auth: str | None,
                      threads: int) -> None:
    """Serve a web dashboard: queues, workers, tasks, dead letters, throughput (read-only by default)."""
    try:
        auth = parse_basic_auth(basic_auth)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--basic-auth") from None
    try:
        import flask  # noqa: F401 - checked here for a one-line error; web.py imports it
        from waitress import create_server
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs Flask and waitress ({exc.name} is missing): pip install 'celery2cfq[dashboard]'"
        ) from None
    app = app_from_context(ctx)
    web = create_app(app, allow_actions=allow_actions, auth=auth)
    try:
        server = create_server(web, host=host, port=port, threads=threads, ident="cfq-shim")
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = server.effective_port  # type: ignore[union-attr]
    if host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        click.echo(f"Warning: listening on {host} without --basic-auth: anyone who can reach it can read it.", err=True)
    click.echo(f"cfq-shim dashboard: http://{host}:{bound}/ ({'actions allowed' if allow_actions else 'read-only'})")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
