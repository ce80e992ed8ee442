"""Exceptions keep Celery's names and hierarchy, so existing except clauses keep catching them."""

from __future__ import annotations

import pickle

import celery.exceptions as celery_exceptions_module
import kombu.exceptions
import pytest

from cfq_shim import exceptions


class celery_exceptions:  # Celery's names, with kombu's EncodeError (Celery code imports it from either)
    def __getattr__(self, name):
        return getattr(celery_exceptions_module, name, None) or getattr(kombu.exceptions, name)


celery_exceptions = celery_exceptions()

NAMES = [
    "Retry", "MaxRetriesExceededError", "Reject", "Ignore", "SoftTimeLimitExceeded", "TimeLimitExceeded",
    "EncodeError", "ImproperlyConfigured", "CeleryError", "TaskError", "TaskRevokedError", "WorkerLostError",
    "NotRegistered", "TimeoutError", "QueueNotFound", "ChordError", "OperationalError", "TaskPredicate",
    "InvalidTaskError", "AlreadyRegistered", "SecurityError", "WorkerShutdown", "WorkerTerminate",
    "BackendError", "Terminated", "AlwaysEagerIgnored", "CeleryWarning",
]


@pytest.mark.parametrize("name", NAMES)
def test_every_celery_name_exists(name):
    assert hasattr(exceptions, name)
    assert getattr(celery_exceptions, name)


@pytest.mark.parametrize("name", NAMES)
def test_hierarchy_matches_celery(name):
    """Each class has the same builtin bases and the same Celery-named bases as Celery's."""
    ours, theirs = getattr(exceptions, name), getattr(celery_exceptions, name)
    our_names = {c.__name__ for c in ours.__mro__}
    their_names = {c.__name__ for c in theirs.__mro__}
    shared = {n for n in their_names if hasattr(exceptions, n) or n in {"KeyError", "Exception", "SystemExit", "UserWarning"}}
    assert shared <= our_names


def test_retry_str_like_celery():
    assert str(exceptions.Retry(exc=ValueError("boom"), when=5)) == "Retry in 5s: ValueError('boom')"
    assert str(celery_exceptions.Retry(exc=ValueError("boom"), when=5)) == "Retry in 5s: ValueError('boom')"
    assert str(exceptions.Retry("custom")) == "custom"


def test_reject_carries_reason_and_requeue():
    exc = exceptions.Reject("bad", requeue=True)
    assert (exc.reason, exc.requeue) == ("bad", True)


def test_max_retries_carries_args():
    exc = exceptions.MaxRetriesExceededError("x", task_args=(1,), task_kwargs={"a": 2})
    assert exc.task_args == (1,) and exc.task_kwargs == {"a": 2}


def test_feature_not_available_names_the_feature_and_is_not_implemented():
    exc = exceptions.FeatureNotAvailable("Periodic tasks (beat)", "Use cron.")
    assert isinstance(exc, NotImplementedError) and isinstance(exc, exceptions.ImproperlyConfigured)
    assert "Periodic tasks (beat) is not available" in str(exc) and "Use cron." in str(exc)


def test_retry_pickles():
    clone = pickle.loads(pickle.dumps(exceptions.Retry("m", ValueError("x"), 3)))
    assert clone.message == "m" and clone.when == 3
