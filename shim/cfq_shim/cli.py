"""``cfq-shim``: the runtime CLI (placeholder until the worker lands)."""

import click

from . import __version__


@click.group()
@click.version_option(__version__, prog_name="cfq-shim")
def main() -> None:
    """Run and inspect cfq_shim workers."""
