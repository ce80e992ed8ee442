"""The fast parts of ``.delay()``: the argument check (Celery's messages, compared with Celery 5.7) and the
task ids (``str(uuid.uuid4())``'s shape)."""

from __future__ import annotations

import uuid

import pytest

from cfq_shim import Celery
from cfq_shim.sending.message import new_task_id

CALLS = [((1,), {}), ((1, 2, 3), {}), ((1,), {"z": 2}), ((), {"x": 1, "y": 2}), ((1, 2), {})]


def _messages(celery_class, **app_options):
    app = celery_class("argcheck", **app_options)

    @app.task
    def add(x, y):
        return x + y

    @app.task(bind=True)
    def bound(self, a, /, b=1, *rest, key, **extra):
        return a

    outcomes = []
    for task, calls in ((add, CALLS), (bound, [((), {}), ((1,), {}), ((1,), {"key": 2}), ((1, 2, 3), {"key": 1, "q": 0})])):
        for args, kwargs in calls:
            try:
                task.apply_async(args, kwargs)  # the check runs before anything is sent
                outcomes.append("ok")
            except TypeError as exc:
                outcomes.append(str(exc))
    return outcomes


def test_argument_errors_read_as_celerys():
    celery = pytest.importorskip("celery")
    shim = _messages(Celery, broker="memory://")
    reference = _messages(celery.Celery, broker="memory://")
    assert shim == reference
    assert "add() missing 1 required positional argument: 'y'" in shim


def test_task_ids_are_version_4_uuids_as_text():
    ids = {new_task_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in list(ids)[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
