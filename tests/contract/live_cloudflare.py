"""Helpers for runs against a real Cloudflare account: unique queue prefixes and cleaning up after them."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import cloudflare

from cfq_shim.transport.cloudflare import CloudflareTransport

#: Every queue a live run creates starts with this, so a crashed run's leftovers are easy to find.
LIVE_PREFIX = "cfq-contract-"
REQUIRED_VARIABLES = ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID")


def missing_variables() -> list[str]:
    return [name for name in REQUIRED_VARIABLES if not os.environ.get(name)]


def unique_prefix() -> str:
    return f"{LIVE_PREFIX}{os.urandom(3).hex()}-"


def delete_queues_with_prefix(prefix: str) -> None:
    """Delete the account's queues whose names start with ``prefix`` (the SDK reads the environment)."""
    account_id = os.environ["CLOUDFLARE_ACCOUNT_ID"]
    with cloudflare.Cloudflare() as client:
        for queue in client.queues.list(account_id=account_id):
            if queue.queue_name and queue.queue_id and queue.queue_name.startswith(prefix):
                client.queues.delete(queue.queue_id, account_id=account_id)


@contextmanager
def live_transport() -> Iterator[CloudflareTransport]:
    """The Cloudflare transport on the real account, its queues under a fresh prefix, deleted afterwards."""
    prefix = unique_prefix()
    transport = CloudflareTransport.from_url(f"cloudflare://?queue_prefix={prefix}")
    try:
        yield transport
    finally:
        transport.close()
        delete_queues_with_prefix(prefix)
