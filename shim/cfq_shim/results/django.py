"""``django-db``: results in the Django project's own database, through Django's connection.

``CELERY_RESULT_BACKEND = "django-db"`` keeps working without django-celery-results: the tables
(``cfq_result_entries``, ``cfq_result_members``; :mod:`cfq_shim.results.sql`) are created on first use,
with no migration to run. ``django-db`` uses the ``default`` database; ``django-db://ALIAS`` another one
from ``DATABASES``. Each thread uses Django's own connection for that alias, so transactions, connection
reuse and the worker's per-task connection hygiene (:mod:`cfq_shim.fixups.django`) are Django's.

PostgreSQL and SQLite databases are supported (the statements need ``INSERT … ON CONFLICT``); another
engine is refused at start-up, naming the alternatives.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from .base import ResultBackendError, UnsupportedResultBackend
from .sql import SQLResultBackend, Statement, StatementResult

__all__ = ["DjangoResultBackend"]

_SUPPORTED_VENDORS = ("postgresql", "sqlite")


class DjangoResultBackend(SQLResultBackend):
    scheme = "django-db"
    shared_between_processes = True
    shared_between_machines = True
    placeholder = "%s"  # Django's cursors take %s on every engine
    poll_interval_seconds = 0.02
    max_poll_interval_seconds = 0.5

    def __init__(self, alias: str = "default", *, now: Callable[[], float] = time.time) -> None:
        super().__init__(now=now)
        try:
            from django.db import connections, transaction
        except ImportError:  # pragma: no cover - depends on the environment
            raise UnsupportedResultBackend("django-db results need Django installed and configured") from None
        self._connections, self._transaction = connections, transaction
        self.alias = alias
        self._schema_ready = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "DjangoResultBackend":
        alias = urlsplit(url).netloc if "://" in url else ""
        return cls(alias or "default", **options)

    def _connection(self) -> Any:
        from django.core.exceptions import ImproperlyConfigured as DjangoNotConfigured

        try:
            connection = self._connections[self.alias]
            vendor = connection.vendor
        except DjangoNotConfigured as exc:
            raise UnsupportedResultBackend(
                f"django-db: Django is not configured ({exc}); set DJANGO_SETTINGS_MODULE, or use another backend"
            ) from None
        except Exception as exc:  # noqa: BLE001 - ConnectionDoesNotExist and friends
            raise UnsupportedResultBackend(f"django-db: no database {self.alias!r} in DATABASES ({type(exc).__name__})") from None
        if vendor not in _SUPPORTED_VENDORS:
            raise UnsupportedResultBackend(
                f"django-db on a {vendor} database is not supported: use a PostgreSQL or SQLite database, or "
                "another result backend (sqlite:///, redis://, db+postgresql://, d1://)"
            )
        return connection

    def _run(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        from django.db import DatabaseError

        connection = self._connection()
        if not self._schema_ready:
            self._schema_ready = True
            self._run(self._schema_statements(), write=True)
        try:
            with self._transaction.atomic(using=self.alias):
                results = []
                with connection.cursor() as cursor:
                    for statement in statements:
                        cursor.execute(statement.sql, statement.params)
                        rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else []
                        results.append(StatementResult(rows, cursor.rowcount))
                return results
        except DatabaseError as exc:
            raise ResultBackendError(f"result backend django-db ({self.alias}): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None

    def describe(self) -> str:
        return "django-db" if self.alias == "default" else f"django-db://{self.alias}"
