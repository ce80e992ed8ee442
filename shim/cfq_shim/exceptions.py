"""Errors, with Celery's names and hierarchy, so ``except celery.exceptions.X`` code keeps working
once the import is rewritten to ``cfq_shim.exceptions``.

Hierarchy (as Celery 5.7, whose billiard/kombu errors are defined here too):

- ``CeleryError``
    - ``ImproperlyConfigured`` -> ``FeatureNotAvailable`` (a name that exists, a feature built later),
      ``ConfigNotFound`` (also an ``ImportError``, as Celery raises there)
    - ``SecurityError``
    - ``TaskPredicate``: ``Retry``, ``Ignore``, ``Reject``
    - ``TaskError``: ``QueueNotFound``, ``NotRegistered``, ``AlreadyRegistered``, ``TimeoutError``,
      ``MaxRetriesExceededError``, ``TaskRevokedError``, ``InvalidTaskError``, ``ChordError``,
      ``IncompleteStream``
- ``KombuError``: ``OperationalError``, ``SerializerError`` -> ``EncodeError``, ``DecodeError``
- ``SoftTimeLimitExceeded``, ``TimeLimitExceeded``, ``WorkerLostError``, ``Terminated`` (plain Exceptions)
- ``BackendError``: ``BackendGetMetaError``, ``BackendStoreError``
- ``SystemExit``: ``WorkerShutdown``, ``WorkerTerminate``
"""

from __future__ import annotations

import numbers
from datetime import datetime
from typing import Any

__all__ = [
    "CeleryWarning", "AlwaysEagerIgnored", "DuplicateTaskNameWarning", "NotConfigured", "FixupWarning",
    "CeleryError", "ImproperlyConfigured", "ConfigNotFound", "FeatureNotAvailable", "SecurityError",
    "TaskPredicate", "Retry", "Ignore", "Reject",
    "TaskError", "QueueNotFound", "IncompleteStream", "NotRegistered", "AlreadyRegistered",
    "TimeoutError", "MaxRetriesExceededError", "TaskRevokedError", "InvalidTaskError", "ChordError",
    "KombuError", "OperationalError", "SerializerError", "EncodeError", "DecodeError",
    "SoftTimeLimitExceeded", "TimeLimitExceeded", "WorkerLostError", "Terminated",
    "BackendError", "BackendGetMetaError", "BackendStoreError",
    "WorkerShutdown", "WorkerTerminate",
]


# -- warnings -------------------------------------------------------------------------------------
class CeleryWarning(UserWarning):
    """Base class for the shim's warnings."""


class AlwaysEagerIgnored(CeleryWarning):
    """``send_task`` ignores ``task_always_eager`` (as in Celery)."""


class DuplicateTaskNameWarning(CeleryWarning):
    """Two callables were registered under one task name."""


class NotConfigured(CeleryWarning):
    """A setting is unknown, or has no meaning here."""


class FixupWarning(CeleryWarning):
    """A framework fix-up cannot be applied (``DJANGO_SETTINGS_MODULE`` is set but Django is not installed)."""


# -- core -----------------------------------------------------------------------------------------
class CeleryError(Exception):
    """Base class of the shim's errors."""


class ImproperlyConfigured(CeleryError):
    """The app, a task or a setting is configured in a way the shim cannot run."""


class ConfigNotFound(ImproperlyConfigured, ImportError):
    """``config_from_object`` names a module or attribute that cannot be loaded.

    An ImportError too, as Celery raises one there, so ``except ImportError`` code keeps working."""


class FeatureNotAvailable(ImproperlyConfigured, NotImplementedError):
    """The name exists so code imports, but the feature behind it is not built yet.

    The message names the feature and what to do instead.
    """

    def __init__(self, feature: str, hint: str = "") -> None:
        self.feature = feature
        text = f"{feature} is not available in cfq_shim yet."
        if hint:
            text = f"{text} {hint}"
        super().__init__(text)


class SecurityError(CeleryError):
    """Security related error."""


# -- task predicates ----------------------------------------------------------------------------
class TaskPredicate(CeleryError):
    """Base class of the exceptions a task raises to steer what happens to its message."""


class Retry(TaskPredicate):
    """The task is to be retried later (raised by ``Task.retry``)."""

    message: str | None = None
    exc: BaseException | None = None
    #: When: seconds (a number) or a datetime.
    when: float | datetime | None = None

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | str | None = None,
        when: float | datetime | None = None,
        is_eager: bool = False,
        sig: Any = None,
        **kwargs: Any,
    ) -> None:
        self.message = message
        if isinstance(exc, str):
            self.exc, self.excs = None, exc
        else:
            self.exc, self.excs = exc, (repr(exc) if exc else None)
        self.when = when
        self.is_eager = is_eager
        self.sig = sig
        super().__init__(self, exc, when, **kwargs)

    def humanize(self) -> str:
        if isinstance(self.when, numbers.Number):
            return f"in {self.when}s"
        return f"at {self.when}"

    def __str__(self) -> str:
        if self.message:
            return self.message
        if self.excs:
            return f"Retry {self.humanize()}: {self.excs}"
        return f"Retry {self.humanize()}"

    def __reduce__(self) -> Any:
        return self.__class__, (self.message, self.exc, self.when)


RetryTaskError = Retry


class Ignore(TaskPredicate):
    """The task asks that nothing more happens to its message (it is acked, no state recorded)."""


class Reject(TaskPredicate):
    """The task rejects its message: requeued when ``requeue`` is true, else dead-lettered."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)

    def __repr__(self) -> str:
        return f"reject requeue={self.requeue}: {self.reason}"


# -- task errors ----------------------------------------------------------------------------------
class TaskError(CeleryError):
    """Task related errors."""


class QueueNotFound(KeyError, TaskError):
    """A task was routed to a queue that does not exist."""


class IncompleteStream(TaskError):
    """Found the end of a stream of data, but the data is not complete."""


class NotRegistered(KeyError, TaskError):
    """The task is not registered."""

    def __repr__(self) -> str:
        return f"Task of kind {self.args[0] if self.args else ''} never registered, please make sure it's imported."


class AlreadyRegistered(TaskError):
    """The task is already registered."""


class TimeoutError(TaskError):  # noqa: A001 - Celery's name
    """The operation timed out."""


class MaxRetriesExceededError(TaskError):
    """The task's retry limit has been exceeded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.task_args = kwargs.pop("task_args", [])
        self.task_kwargs = kwargs.pop("task_kwargs", {})
        super().__init__(*args, **kwargs)


class TaskRevokedError(TaskError):
    """The task has been revoked (or expired), so no result is available."""


class InvalidTaskError(TaskError):
    """The task message has invalid data."""


class ChordError(TaskError):
    """A task that is part of a chord raised an exception."""


# -- messaging (kombu's names) ------------------------------------------------------------------
class KombuError(Exception):
    """Base class of messaging errors (kombu's name)."""


class OperationalError(KombuError):
    """The transport failed while sending or receiving."""


class SerializerError(KombuError):
    """A message could not be serialized or deserialized."""


class EncodeError(SerializerError):
    """A task's message cannot be sent: arguments JSON cannot carry, or too large.

    The message names the task and the reason (with the size in bytes when that is the cause).
    """


class DecodeError(SerializerError):
    """A message body could not be decoded."""


# -- pool errors (billiard's names) ---------------------------------------------------------------
class SoftTimeLimitExceeded(Exception):
    """Raised inside a task when its ``soft_time_limit`` has passed."""

    def __str__(self) -> str:
        return "SoftTimeLimitExceeded" + (f"{self.args}" if self.args else "()")


class TimeLimitExceeded(Exception):
    """A task's hard ``time_limit`` has passed and its process was ended."""


class WorkerLostError(Exception):
    """The worker process running a task exited unexpectedly."""


class Terminated(Exception):
    """A task was terminated."""


# -- results ---------------------------------------------------------------------------------------
class BackendError(Exception):
    """An issue reading or writing results."""


class BackendGetMetaError(BackendError):
    """An issue reading results."""


class BackendStoreError(BackendError):
    """An issue writing results."""


# -- worker shutdown -------------------------------------------------------------------------------
class WorkerShutdown(SystemExit):
    """Raise in a task or signal handler to make the worker shut down warm."""


class WorkerTerminate(SystemExit):
    """Raise to make the worker terminate at once."""
