"""The result-backend contract suite's registry of backends, and the clock the suite turns.

Every test in tests/results_contract runs once per entry of :data:`BACKEND_FACTORIES`. A factory takes
the test's ``tmp_path`` and a :class:`ContractClock` and is a context manager yielding a ready
:class:`~cfq_shim.results.base.ResultBackend` (closed on exit). Backends that keep time themselves
(Redis expires keys on the server's clock) switch the clock to real time; ``clock.advance`` then sleeps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import pytest

from cfq_shim.results.base import ResultBackend
from cfq_shim.results.sqlite import MemoryResultBackend, SQLiteResultBackend


class ContractClock:
    """Seconds since the epoch that move only when a test says so (or real time, once switched)."""

    def __init__(self) -> None:
        self._now = time.time()
        self.manual = True

    def now(self) -> float:
        return self._now if self.manual else time.time()

    def use_real_time(self) -> None:
        self.manual = False

    def advance(self, seconds: float) -> None:
        if self.manual:
            self._now += seconds
        else:
            time.sleep(seconds)


@dataclass
class Opened:
    """A backend under test, and the URL another process opens to share its store (None: it cannot)."""

    backend: ResultBackend
    url: str | None


BackendFactory = Callable[[Path, ContractClock], ContextManager[Opened]]


@contextmanager
def memory_backend(tmp_path: Path, clock: ContractClock) -> Iterator[Opened]:
    backend = MemoryResultBackend(now=clock.now)
    try:
        yield Opened(backend, None)
    finally:
        backend.close()


@contextmanager
def sqlite_backend(tmp_path: Path, clock: ContractClock) -> Iterator[Opened]:
    path = tmp_path / "results" / "contract.sqlite3"
    backend = SQLiteResultBackend(str(path), now=clock.now)
    try:
        yield Opened(backend, f"sqlite:///{path}")
    finally:
        backend.close()


#: name -> factory; every test runs once per entry.
BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
}


@pytest.fixture
def clock() -> ContractClock:
    return ContractClock()


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
def opened(request: pytest.FixtureRequest, tmp_path: Path, clock: ContractClock) -> Iterator[Opened]:
    with BACKEND_FACTORIES[request.param](tmp_path, clock) as result:
        yield result


@pytest.fixture
def backend(opened: Opened) -> ResultBackend:
    return opened.backend
