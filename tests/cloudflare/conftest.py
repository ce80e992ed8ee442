"""Fixtures: the local stand-in started in-process on a free port, and the official SDK pointed at it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cloudflare
import pytest
from stand_in_support import ACCOUNT, ManualClock, start_stand_in, stop_stand_in

from cfq_shim.emulator import EmulatorServer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stand_in(tmp_path: Path, clock: ManualClock) -> Iterator[EmulatorServer]:
    server = start_stand_in(tmp_path / "stand-in.sqlite3", clock=clock)
    yield server
    stop_stand_in(server)


@pytest.fixture
def sdk(stand_in: EmulatorServer) -> Iterator[cloudflare.Cloudflare]:
    """The official SDK, unchanged, pointed at the stand-in; no retries so errors surface at once."""
    client = cloudflare.Cloudflare(api_token="any-token", base_url=stand_in.base_url, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def queue_id(sdk: cloudflare.Cloudflare) -> str:
    queue = sdk.queues.create(account_id=ACCOUNT, queue_name="work")
    assert queue is not None and queue.queue_id
    return queue.queue_id
