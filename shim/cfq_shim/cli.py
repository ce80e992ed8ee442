"""``cfq-shim``: the runtime CLI, shaped like Celery's (``cfq-shim -A proj worker -l info``).

Each sub-command lives in the module that owns its concept and is imported only when it runs, so
``cfq-shim --help`` stays fast and ``cfq-shim worker`` never loads the HTTP stand-in.
"""

from __future__ import annotations

import importlib

import click

from . import __version__
from .exceptions import ImproperlyConfigured
from .loading import AppNotFound, load_app
from .runtime import Runtime

#: command name -> "module:attribute" of a click command.
_COMMANDS: dict[str, str] = {
    "worker": "cfq_shim.worker.command:worker",
    "beat": "cfq_shim.beat.command:beat_command",
    "inspect": "cfq_shim.control.command:inspect_command",
    "purge": "cfq_shim.admin:purge_command",
    "provision": "cfq_shim.provision:provision_command",
    "emulator": "cfq_shim.emulator.command:emulator_command",
    "dlq": "cfq_shim.deadletters.command:dlq_command",
    "status": "cfq_shim.control.command:status_command",
    "control": "cfq_shim.control.command:control_command",
    "forward": "cfq_shim.forward:forward_command",
    "dashboard": "cfq_shim.dashboard.command:dashboard_command",
}


#: command name -> one-line help, shown by ``cfq-shim --help`` without importing the command.
_SHORT_HELP: dict[str, str] = {
    "worker": "Start a worker that runs the app's tasks.",
    "beat": "Send the app's periodic tasks (one beat at a time).",
    "inspect": "Queue figures, or ask the workers: active, registered, stats, ...",
    "purge": "Delete every message of the app's queues.",
    "provision": "Create the app's queues on Cloudflare.",
    "emulator": "Serve Cloudflare's Queues REST API locally.",
    "dlq": "List, show, replay and purge dead letters.",
    "status": "Show the live workers.",
    "control": "Revoke tasks and send commands to the workers.",
    "forward": "Push the app's outbox (producer=outbox) to its queues.",
    "dashboard": "Serve a web dashboard (queues, workers, tasks, dead letters).",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing commands must not import them (fast --help, and one broken command cannot hide the rest).
        rows = [(name, _SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-A",
    "--app",
    "app_spec",
    metavar="APP",
    envvar="CFQ_SHIM_APP",
    help="The application: a module, 'module:attribute', or a package with a 'celery' module.",
)
@click.version_option(__version__, prog_name="cfq-shim")
@click.pass_context
def main(ctx: click.Context, app_spec: str | None) -> None:
    """Run and inspect cfq_shim workers."""
    ctx.obj = {"app_spec": app_spec}


def app_from_context(ctx: click.Context) -> Runtime:
    """Load the group's ``-A`` app for a sub-command, or fail with a one-line error (no traceback)."""
    spec = (ctx.find_root().obj or {}).get("app_spec")
    if not spec:
        raise click.UsageError("No application given: pass -A/--app (for example: cfq-shim -A proj worker).")
    try:
        app = load_app(spec)
        # Settings are read at first use; read them now, so a config module that does not import
        # (or a wrong DJANGO_SETTINGS_MODULE) is one line naming it rather than a traceback later.
        app.conf.read_sources()
    except (AppNotFound, ImproperlyConfigured) as exc:
        raise click.ClickException(str(exc)) from None
    return app
