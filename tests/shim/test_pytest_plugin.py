"""The pytest plugin (entry point ``pytest11``): Celery's fixture names and scopes, a task running on
the in-process worker, configuration overrides and the ``celery`` marker, run by a real pytest in a
subprocess so the installed entry point is what loads it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURES = ("celery_app", "celery_worker", "celery_config", "celery_parameters", "celery_includes",
            "celery_session_app", "celery_session_worker", "celery_worker_pool", "celery_worker_parameters",
            "celery_enable_logging", "use_celery_app_trap", "depends_on_current_app")


def _fixture_scopes(module) -> dict[str, str]:
    scopes = {}
    for name in FIXTURES:
        definition = getattr(module, name)
        marker = getattr(definition, "_fixture_function_marker", None) or getattr(definition, "_pytestfixturefunction")
        scopes[name] = marker.scope if isinstance(marker.scope, str) else marker.scope.value
    return scopes


def test_fixture_names_and_scopes_match_celerys():
    import celery.contrib.pytest as celery_plugin

    import cfq_shim.contrib.pytest as shim_plugin

    assert _fixture_scopes(shim_plugin) == _fixture_scopes(celery_plugin)


def test_the_entry_point_is_declared():
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="pytest11") if e.name == "cfq_shim"] == ["cfq_shim.contrib.pytest"]


PROJECT_TESTS = '''
import pytest

from cfq_shim import shared_task


@shared_task
def shout(word):
    return word.upper()


@pytest.fixture(scope="session")
def celery_config():
    return {"task_default_queue": "tests"}


def test_a_task_defined_in_the_test_runs_on_the_worker(celery_app, celery_worker):
    @celery_app.task
    def mul(x, y):
        return x * y

    celery_worker.reload()
    assert mul.delay(4, 4).get(timeout=10) == 16


def test_a_shared_task_runs_on_the_test_app(celery_app, celery_worker):
    assert shout.delay("hi").get(timeout=10) == "HI"


def test_celery_config_overrides_the_defaults(celery_app):
    assert celery_app.conf.task_default_queue == "tests"
    assert celery_app.conf.broker_url == "memory://"


@pytest.mark.celery(result_extended=True)
def test_the_marker_adds_settings(celery_app):
    assert celery_app.conf.result_extended is True


def test_session_app_and_worker(celery_session_app, celery_session_worker):
    @celery_session_app.task
    def add(x, y):
        return x + y

    assert add.delay(1, 2).get(timeout=10) == 3


def test_a_failing_task_raises_its_error(celery_app, celery_worker):
    @celery_app.task
    def boom():
        raise KeyError("nope")

    with pytest.raises(KeyError):
        boom.delay().get(timeout=10)
'''


def test_a_project_test_module_runs_with_the_fixtures(tmp_path: Path):
    (tmp_path / "test_tasks.py").write_text(textwrap.dedent(PROJECT_TESTS))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "6 passed" in proc.stdout


def test_start_worker_refuses_unknown_parameters():
    from cfq_shim import Celery
    from cfq_shim.contrib.testing.worker import start_worker

    app = Celery("t", broker="memory://", set_as_current=False)
    with pytest.raises(TypeError, match="frobnicate"):
        with start_worker(app, frobnicate=1):
            pass
