"""The contract suite's registry of transports, and the clock the suite turns.

Every test in tests/contract runs once per entry of :data:`TRANSPORT_FACTORIES`. A factory takes the
test's ``tmp_path`` and a :class:`ContractClock` and is a context manager yielding a ready
:class:`~cfq_shim.transport.base.Transport` (closed on exit). A factory whose store can read an
injected clock wires ``clock.now_ms`` into it, so leases and delays pass without sleeping; a factory
that cannot (a real Cloudflare account) calls ``clock.use_real_time()``, and then ``clock.advance``
sleeps for real.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import pytest

from cfq_shim.transport.base import Transport
from cfq_shim.transport.memory import MemoryTransport
from cfq_shim.transport.sqlite import SQLiteTransport


class ContractClock:
    """A millisecond clock that only moves when a test says so (or real time, once switched)."""

    #: An arbitrary fixed start, far from zero so no timestamp arithmetic goes negative.
    START_MS = 1_800_000_000_000

    def __init__(self) -> None:
        self._now_ms = self.START_MS
        self.manual = True

    def now_ms(self) -> int:
        return self._now_ms if self.manual else time.time_ns() // 1_000_000

    def use_real_time(self) -> None:
        self.manual = False

    def advance(self, milliseconds: int) -> None:
        """Let ``milliseconds`` pass: at once on a manual clock, by sleeping on real time."""
        if self.manual:
            self._now_ms += milliseconds
        else:
            time.sleep(milliseconds / 1000)


TransportFactory = Callable[[Path, ContractClock], ContextManager[Transport]]


@contextmanager
def memory_transport(tmp_path: Path, clock: ContractClock) -> Iterator[Transport]:
    transport = MemoryTransport(now_ms=clock.now_ms)
    try:
        yield transport
    finally:
        transport.close()


@contextmanager
def sqlite_transport(tmp_path: Path, clock: ContractClock) -> Iterator[Transport]:
    transport = SQLiteTransport(str(tmp_path / "queues" / "contract.sqlite3"), now_ms=clock.now_ms)
    try:
        yield transport
    finally:
        transport.close()


@contextmanager
def cloudflare_emulator_transport(tmp_path: Path, clock: ContractClock) -> Iterator[Transport]:
    """The Cloudflare transport (official SDK over HTTP) against the local stand-in, in-process."""
    from cfq_shim.embedded import EmbeddedStore
    from cfq_shim.emulator import EmulatorServer, QueueService
    from cfq_shim.transport.cloudflare import CloudflareTransport

    store = EmbeddedStore(str(tmp_path / "stand-in.sqlite3"), now_ms=clock.now_ms)
    with EmulatorServer(QueueService(store)) as server:
        transport = CloudflareTransport(
            account_id="0" * 32, api_token="contract-token", base_url=server.base_url, max_retries=0
        )
        try:
            yield transport
        finally:
            transport.close()
    store.close()


@contextmanager
def cloudflare_live_transport(tmp_path: Path, clock: ContractClock) -> Iterator[Transport]:
    """The Cloudflare transport against a real account (tests/contract/test_live_cloudflare.py says
    when it runs). Queues get a prefix unique to the test and are deleted afterwards."""
    from live_cloudflare import live_transport

    clock.use_real_time()
    with live_transport() as transport:
        yield transport


#: name -> factory. "cloudflare-live" joins only when a real account is configured.
TRANSPORT_FACTORIES: dict[str, TransportFactory] = {
    "memory": memory_transport,
    "sqlite": sqlite_transport,
    "cloudflare-emulator": cloudflare_emulator_transport,
}
if os.environ.get("CLOUDFLARE_API_TOKEN") and os.environ.get("CLOUDFLARE_ACCOUNT_ID"):
    TRANSPORT_FACTORIES["cloudflare-live"] = cloudflare_live_transport


@pytest.fixture
def clock() -> ContractClock:
    return ContractClock()


@pytest.fixture(params=sorted(TRANSPORT_FACTORIES))
def transport(request: pytest.FixtureRequest, tmp_path: Path, clock: ContractClock) -> Iterator[Transport]:
    with TRANSPORT_FACTORIES[request.param](tmp_path, clock) as opened:
        yield opened
