"""``celery2cfq``: the migration tool's CLI (placeholder until the engine lands)."""

import click

from . import __version__


@click.group()
@click.version_option(__version__, prog_name="celery2cfq")
def main() -> None:
    """Migrate Celery code to Cloudflare Queues."""
