"""Against a real Cloudflare account, when CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID are set.

With both set, conftest.py also registers the "cloudflare-live" transport factory, so the whole contract
suite runs against the account too (queues named ``cfq-contract-<random>-...``, deleted afterwards).
Without them this module is skipped and says which variables are missing. The token needs the account
permission Queues: Edit (read and write).
"""

from __future__ import annotations

import time

import pytest
from live_cloudflare import live_transport, missing_variables

from cfq_shim.naming import dead_letter_queue_name
from cfq_shim.transport.base import OutgoingMessage, QueueSettings

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        bool(missing_variables()),
        reason=f"needs a real Cloudflare account: set {' and '.join(missing_variables()) or 'nothing'} "
               "(token with Queues: Edit); the contract suite then also runs as 'cloudflare-live'",
    ),
]

DEADLINE_SECONDS = 60.0


@pytest.fixture
def live():
    with live_transport() as transport:
        yield transport


def test_provisioned_queue_round_trip_on_real_cloudflare(live):
    queue = "live-round-trip"
    dlq = dead_letter_queue_name(queue)
    live.declare_queue(dlq)
    settings = QueueSettings(max_retries=2, dead_letter_queue=dlq, visibility_timeout_ms=30_000, batch_size=100)
    live.declare_queue(queue, settings)
    assert live.queue_settings(queue) == settings

    bodies = {f'{{"n": {i}}}' for i in range(5)}
    live.send_batch(queue, [OutgoingMessage(b) for b in bodies])
    received = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(received) < len(bodies) and time.monotonic() < deadline:
        batch = live.pull(queue, batch_size=100, visibility_timeout_ms=30_000)
        received.extend(batch)
        if not batch:
            time.sleep(1)
    assert {m.body for m in received} == bodies
    result = live.ack(queue, acks=[m.lease_id for m in received])
    assert result.ack_count == len(bodies)
