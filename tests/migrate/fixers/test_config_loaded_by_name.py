"""A configuration module loaded by name has its broker rewritten like any other (issue 10): through
``config_from_envvar`` with the variable's default set in the project, ``Celery(config_source=…)``,
a name several files answer to, and Celery's default ``celeryconfig`` that no Python code names
(``celery --config celeryconfig`` or the default loader)."""

from __future__ import annotations

from fixer_helpers import check_transformed, codes

CONFIG_BEFORE = "broker_url = 'amqp://guest@localhost//'\nworker_concurrency = 4\n"
CONFIG_AFTER = "broker_url = 'cloudflare://'\nworker_concurrency = 4\n"


def _rewritten(path: str, files: dict[str, str]) -> None:
    result = check_transformed(CONFIG_BEFORE, CONFIG_AFTER, path=path, files=files)
    assert codes(result) == []


def test_config_from_envvar_with_a_default_in_the_project():
    app = (
        "import os\nfrom celery import Celery\n\n"
        "os.environ.setdefault('CELERY_CONFIG_MODULE', 'proj.celeryconfig')\n"
        "app = Celery('proj')\napp.config_from_envvar('CELERY_CONFIG_MODULE')\n"
    )
    _rewritten("proj/celeryconfig.py", {"proj/__init__.py": "", "proj/celery.py": app})


def test_config_source_keyword():
    _rewritten("settings/worker.py", {"tasks.py": "from celery import Celery\napp = Celery('tasks', config_source='settings.worker')\n"})


def test_a_name_two_files_answer_to_rewrites_both():
    files = {
        "app/tasks.py": "from celery import Celery\napp = Celery('tasks')\napp.config_from_object('celeryconfig')\n",
        "deploy/celeryconfig.py": CONFIG_BEFORE,
        "docker/celeryconfig.py": CONFIG_BEFORE,
    }
    _rewritten("deploy/celeryconfig.py", files)
    _rewritten("docker/celeryconfig.py", files)


def test_default_celeryconfig_next_to_an_app_that_names_no_configuration():
    # ``celery --config celeryconfig -A tasks worker``, or the default app's loader.
    _rewritten("celeryconfig.py", {"tasks.py": "from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n"})


def test_an_unrelated_module_with_a_broker_url_name_stays():
    from fixer_helpers import check_noop

    check_noop(CONFIG_BEFORE, path="proj/defaults.py", files={"tasks.py": "from celery import Celery\napp = Celery('tasks')\n"})
