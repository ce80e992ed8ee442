"""``sqlite:///path``: the embedded store on a file, shared by every producer and worker on one machine.

``sqlite:///relative/path.db`` is relative to the working directory, ``sqlite:////abs/path.db`` is
absolute. The parent directory is created when missing.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Callable
from urllib.parse import unquote, urlsplit

from ..embedded import EmbeddedStore, StoreTransport, system_clock_ms
from ..limits import DEFAULT_LIMITS, Limits
from .base import TransportError, UnsupportedBrokerURL

__all__ = ["SQLiteTransport", "path_from_url"]


def path_from_url(url: str) -> str:
    """The file path of a ``sqlite://`` URL; raises UnsupportedBrokerURL when there is none."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        raise UnsupportedBrokerURL(f"not a sqlite:// URL: {parts.scheme}://…")
    if parts.netloc:
        raise UnsupportedBrokerURL(
            f"sqlite URLs take no host (got {parts.netloc!r}): use sqlite:///relative/path or sqlite:////absolute/path"
        )
    path = unquote(parts.path)[1:]  # the third slash separates the (empty) host from the path
    if not path or path.endswith("/"):
        raise UnsupportedBrokerURL(
            "a sqlite:// URL needs a file path: sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    return path


class SQLiteTransport(StoreTransport):
    scheme = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        limits: Limits = DEFAULT_LIMITS,
        now_ms: Callable[[], int] = system_clock_ms,
    ) -> None:
        try:
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
            store = EmbeddedStore(path, limits=limits, now_ms=now_ms)
        except (OSError, sqlite3.Error) as exc:
            # The embedded store's "cannot reach the broker": an OperationalError for .delay() callers,
            # and one line at worker start-up, naming the file and the reason.
            raise TransportError(f"cannot open the embedded store {path!r}: {getattr(exc, 'strerror', None) or exc}") from exc
        super().__init__(store, limits=limits)
        self.path = path

    @classmethod
    def from_url(cls, url: str, *, limits: Limits = DEFAULT_LIMITS) -> "SQLiteTransport":
        return cls(path_from_url(url), limits=limits)

    @property
    def destination(self) -> str:
        return f"sqlite:///{os.path.abspath(self.path)}"

    def __repr__(self) -> str:
        return f"SQLiteTransport({self.path!r})"
