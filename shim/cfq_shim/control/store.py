"""The store remote control goes through, for an app: its result backend, else one beside the broker.

- A configured result backend (``result_backend``) is shared by every worker and client of the project,
  on one machine or many: control uses it.
- Without one, on the embedded broker (``sqlite:///path``), control uses ``control.sqlite3`` in the
  broker file's directory: every process on the machine shares it.
- Without one, on ``memory://``, an in-process store per app (tests, eager set-ups).
- On ``cloudflare://`` without a result backend there is nothing shared: :class:`ControlUnavailable`
  says to set ``result_backend``.
"""

from __future__ import annotations

import os
import threading
import weakref
from urllib.parse import urlsplit

from ..backend import Backend
from ..exceptions import ImproperlyConfigured
from ..results import ResultBackend, open_backend
from ..runtime import Runtime
from ..transport.sqlite import path_from_url

__all__ = ["control_store", "ControlUnavailable", "CONTROL_FILE_NAME"]

#: The file beside an embedded broker's that holds control state when no result backend is set.
CONTROL_FILE_NAME = "control.sqlite3"

_stores: "weakref.WeakKeyDictionary[Runtime, ResultBackend]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class ControlUnavailable(ImproperlyConfigured):
    """Remote control needs a store every worker shares, and this app has none."""


def _configured_backend(app: Runtime) -> ResultBackend | None:
    backend = app.backend
    return backend.store if isinstance(backend, Backend) else None


def control_store(app: Runtime) -> ResultBackend:
    """The store for ``app``'s remote control (opened once per app, then reused)."""
    backend = _configured_backend(app)
    if backend is not None:
        return backend
    with _lock:
        store = _stores.get(app)
        if store is None:
            store = _open_beside_broker(app)
            _stores[app] = store
        return store


def _open_beside_broker(app: Runtime) -> ResultBackend:
    url = app.broker_url
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        directory = os.path.dirname(os.path.abspath(path_from_url(url)))
        return open_backend(f"sqlite:///{os.path.join(directory, CONTROL_FILE_NAME)}")
    if scheme == "memory":
        return open_backend("memory://")
    raise ControlUnavailable(
        "Remote control (revoke, inspect, ping, status) goes through a store every worker shares, and this "
        f"app has none: its broker is {scheme}:// and no result_backend is set. Set result_backend (for "
        "example redis://HOST:6379/0, db+postgresql://..., or d1://DATABASE_ID on Cloudflare)."
    )
