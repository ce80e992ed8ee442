"""Helpers for the Cloudflare tests: the stand-in started in-process, a manual clock, test constants."""

from __future__ import annotations

from pathlib import Path

from cfq_shim.embedded import EmbeddedStore
from cfq_shim.emulator import EmulatorServer, QueueService
from cfq_shim.limits import DEFAULT_LIMITS, Limits

ACCOUNT = "f" * 32
#: A recognisable token: tests assert it never shows up in messages or logs.
SECRET_TOKEN = "cfq-test-token-DO-NOT-LEAK-7f3a9c"


class ManualClock:
    """Milliseconds that move only when a test says so."""

    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def now_ms(self) -> int:
        return self.ms

    def advance(self, milliseconds: int) -> None:
        self.ms += milliseconds


def start_stand_in(path: Path, *, clock: ManualClock | None = None, limits: Limits = DEFAULT_LIMITS,
                   token: str | None = None) -> EmulatorServer:
    kwargs = {"now_ms": clock.now_ms} if clock is not None else {}
    store = EmbeddedStore(str(path), limits=limits, **kwargs)
    server = EmulatorServer(QueueService(store), token=token)
    server.start()
    return server


def stop_stand_in(server: EmulatorServer) -> None:
    server.stop()
    server.service.store.close()
