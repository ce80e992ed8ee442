"""Writing ``delay_on_commit`` messages into the outbox table, and the forwarders that drain it.

:func:`write` is what :class:`cfq_shim.fixups.django.DjangoTask` calls when ``cfq_transactional_outbox``
is on; :func:`make_forwarder` is what ``cfq-shim -A proj forward`` runs. Both check first that the app
is installed and its table migrated, and say how to fix it when not (this module is imported only then:
the models can be imported only once Django is set up with the app installed).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING, Any, Callable

from ...envelope import check_body_size
from ...exceptions import ImproperlyConfigured
from ...sending.forwarder import DEFAULT_LAG_WARNING_SECONDS, Forwarder, drain_before_exit
from ...sending.producer import Producer
from ...transport.base import TransportError
from . import APP_LABEL, APP_NAME, TABLE

if TYPE_CHECKING:  # pragma: no cover
    from ...app import Celery
    from .store import DatabaseOutbox

__all__ = ["write", "make_forwarder", "outbox_database", "stats", "SETTING"]


#: The app setting that turns the transactional outbox on (Django: ``CELERY_CFQ_TRANSACTIONAL_OUTBOX``).
SETTING = "cfq_transactional_outbox"
#: How long interpreter exit waits for the in-process forwarder to push what this process wrote.
EXIT_DRAIN_SECONDS = 10.0
#: An idle in-process forwarder looks at the table this often; each commit that wrote to it wakes it.
_THREAD_IDLE_POLL_SECONDS = 5.0

_checked: set[str] = set()
_threads: dict[tuple[int, str], tuple[int, Forwarder]] = {}
_lock = threading.Lock()


def outbox_database(using: str | None = None) -> str:
    """The database alias the outbox rows go to: ``using``, else the router's ``db_for_write`` for the
    outbox model (``"default"`` without a router)."""
    ensure_ready(None)
    if using:
        return using
    from django.apps import apps
    from django.db import router

    return router.db_for_write(apps.get_model(APP_LABEL, "OutboxMessage"))


def ensure_ready(using: str | None) -> None:
    """ImproperlyConfigured naming the fix unless Django is set up, the app is in INSTALLED_APPS and
    (``using``) its table exists in that database (TransportError when that database cannot be read).
    The table is looked up once per alias and process."""
    from django.apps import apps

    if not apps.ready and not apps.loading and os.environ.get("DJANGO_SETTINGS_MODULE"):
        import django

        django.setup()  # `cfq-shim forward` / `inspect` before anything imported the tasks
    if not apps.ready:
        raise ImproperlyConfigured(
            f"{SETTING} is on but Django is not set up: the transactional outbox writes through Django's "
            "database connections (set DJANGO_SETTINGS_MODULE and call django.setup())")
    if not apps.is_installed(APP_NAME):
        raise ImproperlyConfigured(
            f"{SETTING} is on but {APP_NAME!r} is not in INSTALLED_APPS: add it, then run "
            f"`python manage.py migrate {APP_LABEL}`")
    if using is None or using in _checked:
        return
    from django.db import DatabaseError, connections

    try:
        connection = connections[using]
    except Exception as exc:  # django.utils.connection.ConnectionDoesNotExist
        raise ImproperlyConfigured(f"the transactional outbox's database {using!r} is not in DATABASES: {exc}") from None
    try:
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
    except DatabaseError as exc:  # down, unreachable, refused: one line, as the forwarder reports it later
        raise TransportError(f"cannot read the transactional outbox's database {using!r}: {exc}") from None
    if TABLE not in tables:
        raise ImproperlyConfigured(
            f"the transactional outbox's table {TABLE!r} does not exist in the database {using!r}: run "
            f"`python manage.py migrate {APP_LABEL}" + (f" --database {using}" if using != "default" else "") + "`")
    _checked.add(using)


def write(app: "Celery", send: Callable[[], Any], *, using: str | None = None) -> Any:
    """Run ``send`` (a ``.delay``/``.apply_async`` call) with its messages held, and INSERT them into the
    outbox table of ``using`` in the current transaction of that database. Returns what ``send`` returned
    (the AsyncResult). Nothing is written when ``send`` raises (an oversized message: EncodeError)."""
    alias = outbox_database(using)
    ensure_ready(alias)
    _check_same_transaction(alias, using)
    with app.holding_sends() as held:
        result = send()
    if not held:
        return result
    from django.db import transaction

    destination = app.transport.destination
    limits = app.limits
    rows = [(queue, body, delay, check_body_size(body, limits, what=f"a message to queue {queue!r}")
             + limits.message_metadata_bytes) for queue, body, delay in held]
    _outbox(alias).add(destination, rows)
    forwarder = _thread_forwarder(app, alias)
    if forwarder is not None:
        transaction.on_commit(forwarder.wake, using=alias)
    return result


def _check_same_transaction(alias: str, using: str | None) -> None:
    """ImproperlyConfigured when the caller is in a transaction of the database ``delay_on_commit`` is
    tied to (``using``, else ``"default"``, as Celery's) but a router puts the outbox in another one: the
    row would commit there at once, and a rolled-back transaction would still enqueue its task."""
    from django.db import DEFAULT_DB_ALIAS, connections

    caller = using or DEFAULT_DB_ALIAS
    if alias != caller and connections[caller].in_atomic_block:
        raise ImproperlyConfigured(
            f"the transactional outbox writes to the database {alias!r} (the router's db_for_write for "
            f"{APP_LABEL}.OutboxMessage), but this call is inside a transaction of {caller!r}: the message "
            f"would not commit or roll back with it. Route the outbox to {caller!r}, or call "
            f"apply_async_on_commit(..., using={alias!r}) inside transaction.atomic(using={alias!r})")


def _outbox(alias: str) -> "DatabaseOutbox":
    from .store import DatabaseOutbox

    return DatabaseOutbox(alias)


def make_forwarder(app: "Celery", *, using: str | None = None, max_in_flight: int | None = None,
                   idle_poll_seconds: float | None = None) -> Forwarder:
    """A forwarder draining the outbox table of ``using`` (the router's choice by default) for the app's
    destination, pushing through a durable producer (each push waits for the queue's answer)."""
    alias = outbox_database(using)
    ensure_ready(alias)
    producer = Producer(app.transport, limits=app.limits, queue_settings=app.queue_settings)
    options: dict[str, Any] = {}
    if max_in_flight is not None:
        options["max_in_flight"] = max_in_flight
    if idle_poll_seconds is not None:
        options["idle_poll_seconds"] = idle_poll_seconds
    lag = float(getattr(app.conf, "cfq_outbox_lag_warning_seconds", DEFAULT_LAG_WARNING_SECONDS))
    return Forwarder(_outbox(alias), producer, destination=app.transport.destination,
                     lag_warning_seconds=lag, **options)


def stats(app: "Celery", *, using: str | None = None) -> Any:
    """The outbox table's depth and age for the app's destination (``inspect``)."""
    alias = outbox_database(using)
    ensure_ready(alias)
    return _outbox(alias).stats(app.transport.destination)


def _thread_forwarder(app: "Celery", alias: str) -> Forwarder | None:
    """This process's forwarder thread for ``alias`` (started on the first write), unless the app says
    ``cfq_outbox_forwarder = "external"``. One pusher: each holds a database connection of its own."""
    if app.conf.cfq_outbox_forwarder != "thread":
        return None
    key = (id(app), alias)
    entry = _threads.get(key)
    if entry is not None and entry[0] == os.getpid():
        return entry[1]
    with _lock:
        entry = _threads.get(key)
        if entry is None or entry[0] != os.getpid():  # a forked child never reuses its parent's threads
            forwarder = make_forwarder(app, using=alias, max_in_flight=1,
                                       idle_poll_seconds=_THREAD_IDLE_POLL_SECONDS).start()
            entry = _threads[key] = (os.getpid(), forwarder)
            atexit.register(drain_before_exit, forwarder, EXIT_DRAIN_SECONDS,
                            next_forwarder="`cfq-shim -A APP forward`")
    return entry[1]
