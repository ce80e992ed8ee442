"""Shared by every test directory: this file puts tests/ on sys.path, so helpers such as
``services`` (real Redis and PostgreSQL servers on loopback) import by name. It also keeps each test's
shared tasks to that test (below)."""

from __future__ import annotations

import pytest

from cfq_shim import registry


@pytest.fixture(autouse=True)
def _each_test_shares_only_its_own_tasks():
    """``@app.task`` is shared with every app of the process, as in Celery. A project has its process to
    itself, but these tests share one: a test's apps get only the tasks that test defines, not every
    module's tasks collected so far nor a previous test's, and an earlier test's (or a module's) apps do
    not get the tasks this test defines."""
    collected = list(registry._shared_constructors)
    earlier_apps = list(registry._all_apps)
    registry._shared_constructors.clear()
    registry._all_apps.clear()
    yield
    registry._shared_constructors[:] = collected
    for app in earlier_apps:
        registry._all_apps.add(app)
