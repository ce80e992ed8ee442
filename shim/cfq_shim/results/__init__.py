"""Result backends, chosen by ``result_backend`` URL scheme (Celery's schemes where Celery has them).

- ``sqlite:///path``: an SQLite file shared by every process on the machine.
- ``memory://``: in-process, for tests.
- ``redis://`` / ``rediss://``: a Redis server (the one a project already keeps results in).
- ``db+<SQLAlchemy URL>``: Celery's database backend scheme (``db+postgresql://…``, ``db+sqlite:///…``).
- ``django-db``: the Django project's default database, through Django's connection.
- ``d1://DATABASE_ID``: Cloudflare D1 through the official SDK's query API.

:func:`open_backend` is the only way in; everything else fails at start-up naming these schemes.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from .base import Heartbeat, ResultBackend, ResultBackendError, UnsupportedResultBackend

__all__ = [
    "open_backend", "describe_url", "ResultBackend", "Heartbeat", "ResultBackendError",
    "UnsupportedResultBackend", "SUPPORTED_SCHEMES",
]

#: scheme -> "module:class", imported only when used (no Redis client loaded for sqlite://).
_BACKENDS = {
    "sqlite": "cfq_shim.results.sqlite:SQLiteResultBackend",
    "memory": "cfq_shim.results.sqlite:MemoryResultBackend",
    "redis": "cfq_shim.results.redis:RedisResultBackend",
    "rediss": "cfq_shim.results.redis:RedisResultBackend",
    "db": "cfq_shim.results.database:DatabaseResultBackend",
    "django-db": "cfq_shim.results.django:DjangoResultBackend",
    "d1": "cfq_shim.results.d1:D1ResultBackend",
}

SUPPORTED_SCHEMES = (
    "sqlite:///path/to/results.db, memory://, redis://HOST:PORT/DB (or rediss://), "
    "db+<SQLAlchemy URL> (db+postgresql://…, db+sqlite:///…), django-db, d1://DATABASE_ID"
)


def describe_url(url: str) -> str:
    """The URL without user, password or query, for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = parts.path if parts.scheme in ("sqlite", "db+sqlite") else ("/…" if parts.path not in ("", "/") else "")
    return f"{parts.scheme}://{host}{path}"


def _scheme(url: str) -> str:
    if url.strip().lower() == "django-db":
        return "django-db"
    scheme = urlsplit(url).scheme.lower()
    if scheme.startswith("db+"):
        return "db"
    return scheme


def _backend_class(scheme: str) -> type[ResultBackend] | None:
    target = _BACKENDS.get(scheme)
    if target is None:
        return None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # that backend is not part of this release
            return None
        raise
    return getattr(module, class_name)


def open_backend(url: str, **options: Any) -> ResultBackend:
    """The result backend for ``url``. An unknown or unsupported scheme raises
    :class:`UnsupportedResultBackend` naming the supported ones; the message never carries credentials."""
    if not isinstance(url, str) or not url.strip():
        raise UnsupportedResultBackend(f"result_backend must be a URL; supported: {SUPPORTED_SCHEMES}")
    cls = _backend_class(_scheme(url))
    if cls is None:
        raise UnsupportedResultBackend(
            f"result backend {describe_url(url)!r} is not supported by cfq_shim. Supported: {SUPPORTED_SCHEMES}."
        )
    return cls.from_url(url.strip(), **options)
