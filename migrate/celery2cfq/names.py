"""The name table: which Celery names ``cfq_shim`` provides, and where.

Every entry keeps the name and changes only the module, so ``from celery import Celery as C``
becomes ``from cfq_shim import Celery as C`` and the rest of the file is untouched. A name that is
not listed here is left alone and reported (CFQ103): the shim does not provide it.

``cfq_shim`` spellings are accepted wherever Celery's are, so a second run over migrated code
recognises the same apps, tasks and settings and changes nothing.
"""

from __future__ import annotations

from typing import Mapping

__all__ = [
    "MODULE_TARGETS",
    "NOT_MAPPED",
    "PROVIDED",
    "SIGNALS",
    "SIGNALS_NOT_SENT",
    "STATES",
    "SHIM_PACKAGE_IMPORTS",
    "shim_module_for",
    "shim_attribute_chain",
    "celery_equivalent",
    "CELERY_INSTRUMENTATION_MODULES",
]

#: Third-party modules that instrument Celery itself (reported by CFQ511); importing one makes a
#: module worth reading even when it imports nothing else of Celery's.
CELERY_INSTRUMENTATION_MODULES: frozenset[str] = frozenset({
    "sentry_sdk.integrations.celery", "opentelemetry.instrumentation.celery",
})

#: Celery's signal names (``celery.signals.__all__`` of Celery 5.7).
SIGNALS: frozenset[str] = frozenset({
    "before_task_publish", "after_task_publish", "task_internal_error", "task_prerun",
    "task_postrun", "task_success", "task_received", "task_rejected", "task_unknown", "task_retry",
    "task_failure", "task_revoked", "celeryd_init", "celeryd_after_setup", "worker_init",
    "worker_before_create_process", "worker_process_init", "worker_process_shutdown",
    "worker_ready", "worker_shutdown", "worker_shutting_down", "setup_logging",
    "after_setup_logger", "after_setup_task_logger", "beat_init", "beat_embedded_init",
    "heartbeat_sent", "eventlet_pool_started", "eventlet_pool_preshutdown",
    "eventlet_pool_postshutdown", "eventlet_pool_apply", "import_modules", "user_preload_options",
})

#: Signals the shim defines (so imports keep working) but never sends, because the event they
#: announce does not exist on Cloudflare Queues or is not built yet (beat). Handlers get CFQ506.
SIGNALS_NOT_SENT: frozenset[str] = frozenset({
    "beat_init", "beat_embedded_init", "heartbeat_sent", "eventlet_pool_started",
    "eventlet_pool_preshutdown", "eventlet_pool_postshutdown", "eventlet_pool_apply",
    "import_modules", "user_preload_options",
})

#: Celery's state constants and state sets (``celery.states``). Its ``state`` class and precedence
#: helpers are not provided.
STATES: frozenset[str] = frozenset({
    "PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "REVOKED", "REJECTED", "RETRY",
    "IGNORED", "READY_STATES", "UNREADY_STATES", "EXCEPTION_STATES", "PROPAGATE_STATES", "ALL_STATES",
})

_EXCEPTIONS = frozenset({
    "Retry", "MaxRetriesExceededError", "Reject", "Ignore", "SoftTimeLimitExceeded",
    "TimeLimitExceeded", "ImproperlyConfigured", "CeleryError", "TaskError",
    "TaskRevokedError", "WorkerLostError", "NotRegistered", "TimeoutError", "QueueNotFound",
    "ChordError", "OperationalError", "AlreadyRegistered", "AlwaysEagerIgnored", "BackendError",
    "BackendGetMetaError", "BackendStoreError", "CeleryWarning", "DuplicateTaskNameWarning",
    "FixupWarning", "IncompleteStream", "InvalidTaskError", "NotConfigured", "SecurityError",
    "TaskPredicate", "Terminated", "WorkerShutdown", "WorkerTerminate",
})

_CANVAS = frozenset({
    "Signature", "signature", "subtask", "maybe_signature", "group", "chain", "chord", "chunks", "xmap", "xstarmap",
})

#: The module Celery's test fixtures come from, as named in ``pytest_plugins``.
CELERY_PYTEST_PLUGIN = "celery.contrib.pytest"

#: Celery's fixtures that ``cfq_shim.contrib.pytest`` (a ``pytest11`` plugin) also defines.
CELERY_PYTEST_FIXTURES = frozenset({
    "celery_app", "celery_worker", "celery_config", "celery_parameters", "celery_includes",
    "celery_session_app", "celery_session_worker", "celery_worker_pool", "celery_worker_parameters",
    "celery_enable_logging", "use_celery_app_trap", "depends_on_current_app",
})

#: Celery module -> (shim module, names it provides there).
MODULE_TARGETS: Mapping[str, tuple[str, frozenset[str]]] = {
    "celery": (
        "cfq_shim",
        frozenset({"Celery", "shared_task", "Task", "states", "signals", "current_app", "current_task", "uuid"}) | _CANVAS,
    ),
    "celery.exceptions": ("cfq_shim.exceptions", _EXCEPTIONS),
    "celery.schedules": ("cfq_shim.schedules", frozenset({"crontab", "schedule", "solar", "maybe_schedule"})),
    "celery.utils.log": ("cfq_shim.log", frozenset({"get_task_logger", "get_logger"})),
    "celery.result": (
        "cfq_shim.result", frozenset({"AsyncResult", "GroupResult", "ResultSet", "EagerResult", "result_from_tuple"})
    ),
    "celery.signals": ("cfq_shim.signals", SIGNALS),
    "celery.states": ("cfq_shim.states", STATES),
    "celery.canvas": ("cfq_shim.canvas", _CANVAS),
    "celery.app.task": ("cfq_shim.task", frozenset({"Task", "Context"})),
    "celery.app": ("cfq_shim.app", frozenset({"Celery", "shared_task"})),
    # Celery 5.4's Django task class (delay_on_commit); the shim's Django fix-up has the same one (which can
    # also write the message in the caller's transaction: cfq_transactional_outbox, docs/cloudflare.md).
    "celery.contrib.django.task": ("cfq_shim.fixups.django", frozenset({"DjangoTask"})),
    # The shim's pytest plugin has Celery's fixtures (same names and scopes) and its test worker.
    "celery.contrib.pytest": ("cfq_shim.contrib.pytest", CELERY_PYTEST_FIXTURES),
    "celery.contrib.testing.worker": (
        "cfq_shim.contrib.testing.worker", frozenset({"start_worker", "setup_app_for_worker", "TestWorkController"})
    ),
    # Celery projects catch kombu's serialisation and connection errors; the shim has them too.
    "kombu.exceptions": (
        "cfq_shim.exceptions", frozenset({"EncodeError", "DecodeError", "OperationalError", "KombuError"})
    ),
}

#: Names a Celery module and its shim module both export that the table leaves out on purpose,
#: and why. Every other name both export is in ``MODULE_TARGETS`` (tests/migrate/test_name_table.py
#: compares the table with Celery's and the shim's ``__all__`` in both directions).
NOT_MAPPED: Mapping[tuple[str, str], str] = {
    ("celery", "__version__"): "a project that reads Celery's version means Celery's, not the shim's",
    ("kombu.exceptions", "TimeoutError"): (
        "kombu's is a socket timeout; the shim's TimeoutError is Celery's result-wait timeout, another class"
    ),
}

#: (celery module, name) -> shim module, for every name the shim provides.
PROVIDED: Mapping[tuple[str, str], str] = {
    (module, name): target
    for module, (target, names) in MODULE_TARGETS.items()
    for name in names
}

#: Submodules ``cfq_shim/__init__.py`` imports itself, so ``import cfq_shim`` makes
#: ``cfq_shim.<sub>`` usable. Any other submodule reached as an attribute needs its own
#: ``import cfq_shim.<sub>`` (tests/migrate/test_name_table.py checks this against the package).
SHIM_PACKAGE_IMPORTS: frozenset[str] = frozenset({
    "cfq_shim.states", "cfq_shim.app", "cfq_shim.canvas", "cfq_shim.local", "cfq_shim.log",
    "cfq_shim.result", "cfq_shim.schedules", "cfq_shim.task",
})


def shim_attribute_chain(dotted: str) -> tuple[str, tuple[str, ...]] | None:
    """(shim module, attributes after it) for a Celery name reached through a module import
    (``celery.utils.log.get_task_logger`` -> ``("cfq_shim.log", ("get_task_logger",))``), or None
    when the shim does not provide it. The longest Celery module the chain starts with decides;
    the module itself (``celery`` alone) is not a name the shim provides."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module in MODULE_TARGETS and (module == "celery" or module.startswith("celery.")):
            target, names = MODULE_TARGETS[module]
            rest = tuple(parts[cut:])
            if (not rest and cut == 1) or (rest and rest[0] not in names):
                return None
            return target, rest
    return None


def _shim_to_celery() -> dict[str, str]:
    reverse: dict[str, str] = {}
    for module, (target, _) in MODULE_TARGETS.items():
        reverse.setdefault(target, module)  # the first (Celery's own) module wins over kombu's
    return reverse


_SHIM_TO_CELERY = _shim_to_celery()


def shim_module_for(celery_module: str, name: str) -> str | None:
    """The shim module that provides ``celery_module.name``, or None if the shim lacks it."""
    return PROVIDED.get((celery_module, name))


def celery_equivalent(qualified: str) -> str:
    """Map a ``cfq_shim`` dotted name to Celery's spelling (``cfq_shim.log.x`` -> ``celery.utils.log.x``);
    other names are returned unchanged. Used so analysis treats migrated code like Celery code."""
    if qualified != "cfq_shim" and not qualified.startswith("cfq_shim."):
        return qualified
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module in _SHIM_TO_CELERY:
            return ".".join([_SHIM_TO_CELERY[module], *parts[cut:]])
    return qualified
