"""pytest fixtures with the names and scopes of Celery's ``celery.contrib.pytest``, so a project's task
tests keep working after the migration. Installed as a ``pytest11`` plugin (``cfq_shim``): nothing to
enable.

Fixtures (as Celery's):

- ``celery_config`` (session): settings for the test app, ``{}``; override it to add yours. The app
  starts from ``broker_url = "memory://"`` and ``result_backend = "memory://"``.
- ``celery_parameters`` (session): keyword arguments for the app, ``{}``.
- ``celery_includes`` (session): modules imported before the worker starts, ``()``.
- ``celery_worker_pool`` (session): ``"solo"``; ``celery_worker_parameters`` (session): ``{}``.
- ``celery_enable_logging``, ``use_celery_app_trap`` (session): ``False``; kept for compatibility.
- ``celery_app``: a new app per test; ``celery_worker``: an in-process worker on it.
- ``celery_session_app`` / ``celery_session_worker``: the same, one per session.
- ``depends_on_current_app``: makes ``celery_app`` the current app for the test.

A ``@pytest.mark.celery(**settings)`` marker adds settings for one test, as in Celery.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import import_module
from typing import Any

import pytest

from ..app import Celery
from .testing.worker import setup_app_for_worker, start_worker

__all__ = [
    "DEFAULT_TEST_CONFIG", "celery_app", "celery_config", "celery_enable_logging", "celery_includes",
    "celery_parameters", "celery_session_app", "celery_session_worker", "celery_worker",
    "celery_worker_parameters", "celery_worker_pool", "depends_on_current_app", "use_celery_app_trap",
]

#: What Celery's test app starts from, in cfq_shim's terms (in-process broker and results).
DEFAULT_TEST_CONFIG: Mapping[str, Any] = {
    "broker_url": "memory://",
    "result_backend": "memory://",
    "enable_utc": True,
    "timezone": "UTC",
    "accept_content": {"json"},
    "worker_hijack_root_logger": False,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "celery(**overrides): override celery configuration for a test case")


@contextmanager
def _create_app(request: pytest.FixtureRequest, config: Mapping[str, Any], parameters: Mapping[str, Any]) -> Iterator[Any]:

    mark = request.node.get_closest_marker("celery")
    settings = {**DEFAULT_TEST_CONFIG, **config, **(mark.kwargs if mark else {})}
    app = Celery(parameters.get("main", "celery.tests"), set_as_current=False,
                 **{k: v for k, v in parameters.items() if k != "main"})
    app.conf.update(settings)
    with setup_app_for_worker(app):
        try:
            yield app
        finally:
            app.close()


@contextmanager
def _worker(app: Any, includes: Any, pool: str, parameters: Mapping[str, Any]) -> Iterator[Any]:

    for module in includes:
        import_module(module)
    with start_worker(app, pool=pool, **parameters) as worker:
        yield worker


@pytest.fixture(scope="session")
def celery_config() -> Mapping[str, Any]:
    return {}


@pytest.fixture(scope="session")
def celery_parameters() -> Mapping[str, Any]:
    return {}


@pytest.fixture(scope="session")
def celery_includes() -> tuple[str, ...]:
    return ()


@pytest.fixture(scope="session")
def celery_worker_pool() -> str:
    return "solo"


@pytest.fixture(scope="session")
def celery_worker_parameters() -> Mapping[str, Any]:
    return {}


@pytest.fixture(scope="session")
def celery_enable_logging() -> bool:
    return False


@pytest.fixture(scope="session")
def use_celery_app_trap() -> bool:
    return False


@pytest.fixture(scope="session")
def celery_session_app(request, celery_config, celery_parameters, celery_enable_logging, use_celery_app_trap):
    with _create_app(request, celery_config, celery_parameters) as app:
        yield app


@pytest.fixture(scope="session")
def celery_session_worker(celery_session_app, celery_includes, celery_worker_pool, celery_worker_parameters):
    with _worker(celery_session_app, celery_includes, celery_worker_pool, celery_worker_parameters) as worker:
        yield worker


@pytest.fixture()
def celery_app(request, celery_config, celery_parameters, celery_enable_logging, use_celery_app_trap):
    with _create_app(request, celery_config, celery_parameters) as app:
        yield app


@pytest.fixture()
def celery_worker(celery_app, celery_includes, celery_worker_pool, celery_worker_parameters):
    with _worker(celery_app, celery_includes, celery_worker_pool, celery_worker_parameters) as worker:
        yield worker


@pytest.fixture()
def depends_on_current_app(celery_app):
    celery_app.set_current()
