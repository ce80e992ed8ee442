"""``db+<SQLAlchemy URL>``: Celery's database result backend scheme, on PostgreSQL or SQLite.

``db+postgresql://user:password@host:5432/dbname`` and ``db+sqlite:///results.db`` keep working as
configured for Celery. ``db+postgresql://`` without a driver uses psycopg2 when it is installed, else
psycopg 3 (``postgresql+psycopg``); name one explicitly (``db+postgresql+psycopg://``) to choose.

The tables (``cfq_result_entries``, ``cfq_result_members``; :mod:`cfq_shim.results.sql`) are created on
first use; Celery's own ``celery_taskmeta`` tables are neither read nor needed. The statements need
``INSERT … ON CONFLICT`` (PostgreSQL 9.5+, SQLite 3.24+): other databases (MySQL, Oracle, SQL Server) are
refused at start-up with a message naming the supported ones.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Callable, Sequence

from . import describe_url
from .base import ResultBackendError, UnsupportedResultBackend
from .sql import SQLResultBackend, Statement, StatementResult

__all__ = ["DatabaseResultBackend"]

_SUPPORTED_DIALECTS = ("postgresql", "sqlite")


def _engine_url(url: str) -> str:
    """The SQLAlchemy URL inside ``db+…``, with a PostgreSQL driver that is installed."""
    inner = url[len("db+"):]
    if inner.startswith("postgresql://") or inner.startswith("postgres://"):
        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            inner = "postgresql+psycopg://" + inner.split("://", 1)[1]
    return inner


class DatabaseResultBackend(SQLResultBackend):
    scheme = "db"
    shared_between_processes = True
    shared_between_machines = True
    poll_interval_seconds = 0.02
    max_poll_interval_seconds = 0.5

    def __init__(self, url: str, *, now: Callable[[], float] = time.time, engine_options: dict[str, Any] | None = None) -> None:
        super().__init__(now=now)
        try:
            import sqlalchemy
        except ImportError:  # pragma: no cover - depends on the environment
            raise UnsupportedResultBackend(
                "db+ result backends need SQLAlchemy: pip install 'celery2cfq[sqlalchemy]' (or sqlalchemy>=2)"
            ) from None
        self._sqlalchemy = sqlalchemy
        self._shown = describe_url(url)
        try:
            parsed = sqlalchemy.engine.make_url(_engine_url(url))
        except Exception:  # noqa: BLE001 - SQLAlchemy's message may repeat the URL
            raise UnsupportedResultBackend(f"cannot read the result backend URL {self._shown!r} as an SQLAlchemy URL") from None
        dialect = parsed.get_backend_name()
        if dialect not in _SUPPORTED_DIALECTS:
            raise UnsupportedResultBackend(
                f"db+ result backend on {dialect!r} is not supported: use db+postgresql://… or db+sqlite:///… "
                "(or another backend: sqlite:///, redis://, django-db, d1://)"
            )
        options = dict(engine_options or {})
        if dialect == "sqlite":
            options.setdefault("connect_args", {"timeout": 30})
        else:
            options.setdefault("pool_pre_ping", True)
        try:
            self._engine = sqlalchemy.create_engine(parsed, **options)
        except ModuleNotFoundError as exc:
            raise UnsupportedResultBackend(
                f"the {dialect} driver {exc.name!r} is not installed (pip install 'celery2cfq[postgres]' installs psycopg)"
            ) from None
        paramstyle = self._engine.dialect.paramstyle
        if paramstyle == "qmark":
            self.placeholder = "?"
        elif paramstyle in ("format", "pyformat"):
            self.placeholder = "%s"
        else:  # pragma: no cover - no supported driver uses another style
            raise UnsupportedResultBackend(f"the {dialect} driver uses paramstyle {paramstyle!r}, which is not supported")
        self._create_schema()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "DatabaseResultBackend":
        return cls(url, **options)

    def _create_schema(self) -> None:
        # Two processes creating the tables at once can collide in PostgreSQL's catalog: retry once.
        for attempt in range(3):
            try:
                self._run(self._schema_statements(), write=True)
                return
            except ResultBackendError:
                if attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _run(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        try:
            with self._engine.begin() as conn:
                results = []
                for statement in statements:
                    cursor = conn.exec_driver_sql(statement.sql, statement.params)
                    rows = [tuple(row) for row in cursor.fetchall()] if cursor.returns_rows else []
                    results.append(StatementResult(rows, cursor.rowcount))
                return results
        except self._sqlalchemy.exc.SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
            raise ResultBackendError(f"result backend {self._shown}: {type(exc).__name__}: {detail}") from None

    def reset_after_fork(self) -> None:
        self._engine.dispose(close=False)  # the parent keeps its connections; the child opens new ones

    def close(self) -> None:
        self._engine.dispose()

    def describe(self) -> str:
        return self._shown
