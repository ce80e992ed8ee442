"""The result-backend contract suite's registry of backends, and the clock the suite turns.

Every test in tests/results_contract runs once per entry of :data:`BACKEND_FACTORIES`. A factory takes
the test's ``tmp_path`` and a :class:`ContractClock` and is a context manager yielding a ready
:class:`~cfq_shim.results.base.ResultBackend` (closed on exit). Backends that keep time themselves
(Redis expires keys on the server's clock) switch the clock to real time; ``clock.advance`` then sleeps.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import pytest

from cfq_shim.results.base import ResultBackend
from cfq_shim.results.sqlite import MemoryResultBackend, SQLiteResultBackend
from services import postgres_server, redis_server


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


BackendFactory = Callable[[Path, ContractClock, pytest.FixtureRequest], ContextManager[Opened]]


@contextmanager
def memory_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest) -> Iterator[Opened]:
    backend = MemoryResultBackend(now=clock.now)
    try:
        yield Opened(backend, None)
    finally:
        backend.close()


@contextmanager
def sqlite_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest) -> Iterator[Opened]:
    path = tmp_path / "results" / "contract.sqlite3"
    backend = SQLiteResultBackend(str(path), now=clock.now)
    try:
        yield Opened(backend, f"sqlite:///{path}")
    finally:
        backend.close()


@contextmanager
def redis_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest, fixture: str = "redis_url") -> Iterator[Opened]:
    """A real redis-server on loopback (one per session, emptied per test). Redis expires keys on its
    own clock, so time is real here."""
    from cfq_shim.results.redis import RedisResultBackend

    url = request.getfixturevalue(fixture)
    clock.use_real_time()
    backend = RedisResultBackend(url)
    backend.client.flushdb()
    try:
        yield Opened(backend, url)
    finally:
        backend.close()


def rediss_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest) -> ContextManager[Opened]:
    """rediss://: the same, over TLS to a redis-server that speaks only TLS (certificate verified)."""
    return redis_backend(tmp_path, clock, request, fixture="rediss_url")


@contextmanager
def _fresh_postgres_database(server_url: str) -> Iterator[str]:
    import sqlalchemy

    name = f"contract_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextmanager
def postgres_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest) -> Iterator[Opened]:
    """db+postgresql:// on a real PostgreSQL server (one per session, a new database per test)."""
    from cfq_shim.results.database import DatabaseResultBackend

    with _fresh_postgres_database(request.getfixturevalue("postgres_url")) as database_url:
        url = "db+" + database_url
        backend = DatabaseResultBackend(url, now=clock.now)
        try:
            yield Opened(backend, url)
        finally:
            backend.close()


@contextmanager
def db_sqlite_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest) -> Iterator[Opened]:
    """db+sqlite:/// through SQLAlchemy."""
    from cfq_shim.results.database import DatabaseResultBackend

    url = f"db+sqlite:///{tmp_path / 'db-results.sqlite3'}"
    backend = DatabaseResultBackend(url, now=clock.now)
    try:
        yield Opened(backend, url)
    finally:
        backend.close()


@contextmanager
def d1_emulator_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest) -> Iterator[Opened]:
    """d1:// through the official SDK against the stand-in's D1 endpoint (in-process, on loopback)."""
    from cfq_shim.emulator import open_stand_in
    from cfq_shim.results.d1 import D1ResultBackend

    with open_stand_in(str(tmp_path / "stand-in.sqlite3"), token="contract-token") as server:
        backend = D1ResultBackend("contract-db", account_id="0" * 32, api_token="contract-token",
                                  base_url=server.base_url, max_retries=0, now=clock.now)
        monkeypatch = request.getfixturevalue("monkeypatch")  # another process finds the stand-in this way
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", server.base_url)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "0" * 32)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "contract-token")
        try:
            yield Opened(backend, "d1://contract-db")
        finally:
            backend.close()


#: name -> factory; every test runs once per entry.
BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
    "redis": redis_backend,
    "rediss": rediss_backend,
    "db+postgresql": postgres_backend,
    "db+sqlite": db_sqlite_backend,
    "d1-emulator": d1_emulator_backend,
}


@contextmanager
def django_backend(tmp_path: Path, clock: ContractClock, request: pytest.FixtureRequest) -> Iterator[Opened]:
    """django-db through Django's connection (only in the subprocess test_django_db.py starts, which
    configures Django with DJANGO_SETTINGS_MODULE); the tables are emptied per test."""
    from django.db import connection

    from cfq_shim.results.django import DjangoResultBackend

    backend = DjangoResultBackend(now=clock.now)
    backend.cleanup()  # creates the tables on first use
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cfq_result_entries")
        cursor.execute("DELETE FROM cfq_result_members")
    yield Opened(backend, "django-db")


if os.environ.get("CFQ_CONTRACT_DJANGO"):
    import django

    django.setup()
    BACKEND_FACTORIES["django-db"] = django_backend


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def rediss_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("rediss"), tls=True) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def clock() -> ContractClock:
    return ContractClock()


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
def opened(request: pytest.FixtureRequest, tmp_path: Path, clock: ContractClock) -> Iterator[Opened]:
    with BACKEND_FACTORIES[request.param](tmp_path, clock, request) as result:
        yield result


@pytest.fixture
def backend(opened: Opened) -> ResultBackend:
    return opened.backend
