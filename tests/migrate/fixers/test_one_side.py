"""A migrated file runs on one side: never Celery's app with a broker only the shim has (CFQ104).

Each case is rewritten, then executed: every Celery app it builds must have a broker transport
kombu knows, and every cfq_shim app one the shim serves.
"""

from __future__ import annotations

import textwrap
from urllib.parse import urlsplit

import celery
import pytest
from kombu.transport import resolve_transport

import cfq_shim
from celery2cfq.model import Options
from fixer_helpers import codes, run

SHIM_SCHEMES = {"cloudflare", "sqlite", "memory"}

CASES = {
    "exceptions-through-import-celery": """\
        import celery
        app = celery.Celery("p", broker="redis://x")

        @app.task
        def t():
            raise celery.exceptions.Ignore()
        """,
    "kept-import-celery-with-bootsteps": """\
        import celery
        app = celery.Celery("p", broker="redis://localhost:6379/0")
        Step = celery.bootsteps.StartStopStep
        """,
    "kept-import-with-conf-assignments": """\
        import celery
        app = celery.Celery("p")
        app.conf.broker_url = "amqp://guest@rabbit//"
        app.conf.update(broker_transport_options={"visibility_timeout": 60}, result_backend="redis://r")
        Report = celery.bugreport
        """,
    "kept-aliased-module": """\
        import celery as c
        app = c.Celery("p", broker="redis://x")
        print(c.__version__)
        """,
    "environment-default-kept": """\
        import os
        import celery
        app = celery.Celery("p", broker=os.environ.get("CELERY_BROKER_URL", "redis://x"))
        Step = celery.bootsteps.Step
        """,
    "kept-import-subclassed-app-class": """\
        import celery
        class App(celery.Celery):
            pass
        app = App("p", broker="redis://x")
        Step = celery.bootsteps.StartStopStep
        """,
    "split-from-import-moves-the-app": """\
        from celery import Celery, bootsteps
        app = Celery("p", broker="redis://x")
        Step = bootsteps.StartStopStep
        """,
    "aliased-module-chains": """\
        import celery as c
        app = c.Celery("p", broker="redis://x")
        log = c.utils.log.get_task_logger(__name__)
        """,
    "dotted-submodule-imports": """\
        import celery.exceptions
        import celery.schedules
        app = celery.Celery("p", broker="amqp://")
        every = celery.schedules.crontab(minute=0)
        """,
}

ONLY_BROKER = Options(only=frozenset({"CFQ201", "CFQ202", "CFQ104"}))


def apps_built_by(source: str) -> list[object]:
    namespace: dict[str, object] = {"__name__": "migrated_case"}
    exec(compile(source, "<migrated>", "exec"), namespace)
    return [v for v in namespace.values() if isinstance(v, (celery.Celery, cfq_shim.Celery))]


def assert_runs_on_one_side(source: str) -> None:
    apps = apps_built_by(source)
    assert apps, source
    for app in apps:
        scheme = urlsplit(app.conf.broker_url).scheme
        if isinstance(app, celery.Celery):
            resolve_transport(scheme)  # KeyError "No such transport" for cloudflare://
        else:
            assert scheme in SHIM_SCHEMES, source


@pytest.mark.parametrize("options", [Options(), ONLY_BROKER], ids=["all-rules", "only-broker-rules"])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_migrated_file_runs_on_one_side(case, options):
    before = textwrap.dedent(CASES[case])

    after = run(before, path="proj/celery.py", options=options).source

    assert_runs_on_one_side(after)
    # The textual symptom the end-to-end tests saw, whatever the execution check says.
    keeps_celery_module = any(line.startswith("import celery") for line in after.splitlines())
    assert not (keeps_celery_module and "cloudflare://" in after), after


def test_the_kept_file_says_why_its_broker_stays():
    result = run(textwrap.dedent(CASES["kept-import-celery-with-bootsteps"]), path="proj/celery.py")

    assert codes(result) == ["CFQ103", "CFQ104"]
    assert "redis://localhost:6379/0" in result.source


def test_a_fully_provided_file_moves_app_and_broker_together():
    result = run(textwrap.dedent(CASES["exceptions-through-import-celery"]), path="proj/celery.py")

    assert "import celery" not in result.source
    assert 'cfq_shim.Celery("p", broker="cloudflare://")' in result.source
    assert codes(result) == []


#: An app built through ``import celery`` that must stay (the shim has no ``bootsteps``).
KEPT_APP = (
    "proj/celery.py",
    "import celery\n\napp = celery.Celery('proj')\napp.config_from_object('proj.celeryconfig')\n"
    "Step = celery.bootsteps.StartStopStep\n",
)


def test_a_config_module_of_an_app_left_on_celery_keeps_its_broker():
    result = run("broker_url = 'redis://localhost'\n", path="proj/celeryconfig.py", files=dict([KEPT_APP]))

    assert result.source == "broker_url = 'redis://localhost'\n"
    assert codes(result) == ["CFQ104"]


def test_a_module_configuring_an_app_left_on_celery_keeps_its_broker():
    source = "from proj.celery import app\n\napp.conf.broker_url = 'amqp://rabbit//'\n"

    result = run(source, path="proj/settings_hook.py", files=dict([KEPT_APP]))

    assert result.source == source
    assert codes(result) == ["CFQ104"]


def test_the_same_modules_migrate_when_the_app_moves():
    moved = ("proj/celery.py", "import celery\n\napp = celery.Celery('proj')\napp.config_from_object('proj.celeryconfig')\n")

    config = run("broker_url = 'redis://localhost'\n", path="proj/celeryconfig.py", files=dict([moved]))
    hook = run("from proj.celery import app\n\napp.conf.broker_url = 'amqp://rabbit//'\n", path="proj/hook.py", files=dict([moved]))

    assert config.source == "broker_url = 'cloudflare://'\n"
    assert "app.conf.broker_url = 'cloudflare://'" in hook.source
