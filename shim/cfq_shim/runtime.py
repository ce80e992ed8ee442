"""``Runtime``: what the parts that *run* an app need from it, and nothing more.

The worker (:mod:`cfq_shim.worker`), ``provision``, ``inspect``/``purge`` (:mod:`cfq_shim.admin`), and the
coming beat and remote-control code take a :class:`Runtime`, typed, instead of the whole
:class:`cfq_shim.Celery` facade. They never reach into an app's private attributes: what they need is a
member here. :class:`cfq_shim.Celery` is the one implementation; a test may pass any object with these
members.

Layering: this module sits above the core, ``transport/`` and ``sending/`` (whose types it names) and
below ``app.py``. It imports no task or app module at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable

from .backend import Backend, DisabledBackend
from .conf import Settings
from .limits import Limits
from .sending.producer import Producer
from .signals import Signal
from .transport.base import QueueSettings, Transport

if TYPE_CHECKING:  # pragma: no cover - types only; these sit above this module
    from .control.client import Control
    from .task import Task

__all__ = ["Runtime"]


@runtime_checkable
class Runtime(Protocol):
    """An app as the worker, beat, control, ``provision`` and ``admin`` see it."""

    #: The app's name (``Celery("proj")``), or None.
    main: str | None
    #: The settings (Celery's names; read at first use from the configured sources).
    conf: Settings
    #: This machine's host name (worker names, heartbeats).
    hostname: str
    #: Sent in a forked worker child after :meth:`reset_after_fork` (Celery's ``app.on_after_fork``).
    on_after_fork: Signal
    #: Remote control (Celery's ``app.control``): revoke, inspect, ping..., through the shared store.
    control: "Control"

    @property
    def tasks(self) -> Mapping[str, "Task"]:
        """Registered tasks by name; the first access imports the tasks modules."""
        ...

    @property
    def limits(self) -> Limits:
        """Cloudflare's limits, with ``cfq_limits`` overrides."""
        ...

    @property
    def broker_url(self) -> str:
        """The broker URL in use (settings, else ``$CFQ_SHIM_BROKER_URL``, else the embedded store)."""
        ...

    @property
    def transport(self) -> Transport:
        """The transport for :attr:`broker_url`, opened on first use."""
        ...

    @property
    def producer(self) -> Producer:
        """The producer the app sends through, created on first use."""
        ...

    @property
    def backend(self) -> Backend | DisabledBackend:
        """The result backend (``result_backend``), opened on first use; ``backend.store`` is the shared
        state (task metas, chord sets, revoked ids, heartbeats, locks: :mod:`cfq_shim.results.base`)."""
        ...

    def import_default_modules(self) -> None:
        """What a worker does first, once (Celery's ``app.loader.import_default_modules()``): the fix-ups'
        start-up work (Django's system checks), ``import_modules``, then the tasks modules."""
        ...

    def finalize(self, auto: bool = False) -> None:
        """Import the tasks modules and configure the tasks (idempotent), as the first ``tasks`` access does."""
        ...

    def queues(self) -> list[str]:
        """Every queue the app knows (default, tasks' ``queue=``, ``task_routes``, ``task_queues``)."""
        ...

    def queue_for(self, task_name: str, args: Any = None, kwargs: Any = None) -> str:
        """The queue a call of ``task_name`` goes to."""
        ...

    def queue_settings(self, name: str) -> QueueSettings:
        """The consumer settings queue ``name`` gets when it is created (dead-letter queue, retries,
        lease)."""
        ...

    def visibility_timeout_ms(self) -> int:
        """The lease of a pulled message: settings, else one hour (Celery's on Redis); at most 12 h."""
        ...

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's transport and producer without closing them (a
        connection must never cross ``fork()``); the child opens its own on first use."""
        ...

    def close(self) -> None:
        """Close the transport (it is reopened on the next use)."""
        ...
