"""``@app.task`` is shared with every app, as Celery's ``shared=True`` default makes it, measured against real
Celery 5.7 on the same sequence of app creations and decorations. The worker start-up sends
``import_modules``, as Celery's does."""

from __future__ import annotations

import itertools
import sys
import types

import celery
import pytest

import cfq_shim
from cfq_shim import signals
from cfq_shim.worker import Worker

_numbers = itertools.count()


def _user_tasks(app) -> set[str]:
    return {name for name in app.tasks if not name.startswith("celery.")}


def _scenario(cls) -> dict:
    """Two apps before the tasks, one after; the worker's app is neither the one the tasks use."""
    module = types.ModuleType(f"sharing_{next(_numbers)}")
    sys.modules[module.__name__] = module
    origin = cls("origin", set_as_current=False)
    worker_app = cls("worker", set_as_current=False)

    def define(fun_name, **options):
        def fun(*args):
            return fun_name

        fun.__name__ = fun.__qualname__ = fun_name
        fun.__module__ = module.__name__
        return origin.task(**options)(fun)

    define("shared_by_default")
    define("shared_explicitly", shared=True)
    define("kept_private", shared=False)
    define("renamed", name=f"{module.__name__}.custom_name", bind=True)
    later_app = cls("later", set_as_current=False)
    prefix = module.__name__ + "."
    observed = {}
    for label, app in (("origin", origin), ("worker", worker_app), ("later", later_app)):
        names = sorted(name[len(prefix):] for name in _user_tasks(app) if name.startswith(prefix))
        bound_to_itself = all(app.tasks[prefix + name].app is app for name in names)
        observed[label] = (names, bound_to_itself)
    observed["distinct objects"] = worker_app.tasks[prefix + "shared_by_default"] is not origin.tasks[prefix + "shared_by_default"]
    return observed


def test_app_tasks_are_shared_with_every_app_as_in_celery():
    expected = _scenario(celery.Celery)
    assert expected["worker"][0] == ["custom_name", "shared_by_default", "shared_explicitly"]  # the point of it
    assert _scenario(cfq_shim.Celery) == expected


def test_filter_option_is_applied_to_the_task_returned():
    for cls in (celery.Celery, cfq_shim.Celery):
        app = cls("filtering", set_as_current=False)

        @app.task(filter=lambda task: ("filtered", task.name))
        def job():
            return None

        assert job == ("filtered", f"{__name__}.job"), cls


def test_an_app_finalized_before_the_decorator_still_gets_the_task():
    # Celery would miss it (its apps build shared tasks only when they are finalized); the shim gives it,
    # so a task module a worker imports late (Django's checks import views) is not lost.
    worker_app = cfq_shim.Celery("already-final", set_as_current=False)
    assert worker_app.tasks is not None  # finalized now
    origin = cfq_shim.Celery("origin-late", set_as_current=False)

    @origin.task
    def late():
        return None

    assert worker_app.tasks[late.name].app is worker_app


def test_the_worker_start_sends_import_modules_once_as_celery_does():
    app = cfq_shim.Celery(f"imports-{next(_numbers)}", broker="memory://", set_as_current=False)
    calls = []

    def receiver(sender, **kwargs):
        calls.append(sender)

    signals.import_modules.connect(receiver, sender=app, weak=False)
    try:
        Worker(app, pool="solo")
        Worker(app, pool="solo")
    finally:
        signals.import_modules.disconnect(receiver, sender=app)
    assert calls == [app]


@pytest.fixture(autouse=True)
def _forget_modules():
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("sharing_"):
            del sys.modules[name]
