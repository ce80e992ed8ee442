"""Result backends (issue 8): supported ones kept quietly, unsupported ones reported with the choices
(CFQ207), ``--result-backend`` replacing the project's (CFQ210), and a backend taken from the broker's
variable (CFQ211)."""

from __future__ import annotations

import pytest
from fixer_helpers import check_noop, check_transformed, codes

from celery2cfq.model import Options

DJANGO_APP = (
    "import os\nfrom celery import Celery\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\n"
    "app = Celery('proj')\napp.config_from_object('django.conf:settings', namespace='CELERY')\n"
)


@pytest.mark.parametrize("url", [
    "redis://localhost:6379/1", "rediss://:pw@cache:6380/0", "db+postgresql://u:pw@db/app", "db+sqlite:///results.db",
    "django-db", "sqlite:///results.db", "d1://0f1e2d3c", "memory://",
])
def test_supported_backends_are_kept_without_a_finding(url):
    source = f"from celery import Celery\napp = Celery('p', backend={url!r})\n"
    assert codes(check_transformed(source, source.replace("from celery", "from cfq_shim"))) == []


@pytest.mark.parametrize("url, scheme", [
    ("rpc://", "rpc"), ("amqp://guest:secret@rabbit//", "amqp"), ("cache+memcached://127.0.0.1:11211/", "cache+memcached"),
    ("mongodb://u:secret@mongo/results", "mongodb"), ("django-cache", "django-cache"),
])
def test_unsupported_backends_name_the_choices_and_no_credentials(url, scheme):
    result = check_noop(f"CELERY_RESULT_BACKEND = {url!r}\n", path="proj/settings.py", files={"proj/celery.py": DJANGO_APP})
    assert [(f.code, f.line, f.message) for f in result.findings] == [(
        "CFQ207", 1,
        f"CELERY_RESULT_BACKEND: {scheme!r} result backends are not supported by cfq_shim (it fails at start-up); "
        "choose one of redis://, rediss://, db+<SQLAlchemy URL>, django-db, sqlite:///path, d1://DATABASE_ID, "
        "memory://, or run with --result-backend URL",
    )]
    assert "secret" not in result.findings[0].message


def test_result_backend_option_replaces_literals_and_environment_defaults():
    options = Options(result_backend="sqlite:///results.db")
    check_transformed(
        "import os\nfrom celery import Celery\napp = Celery('p', backend='redis://localhost/1')\n"
        "app.conf.result_backend = os.environ.get('RESULTS', \"rpc://\")\n",
        "import os\nfrom cfq_shim import Celery\napp = Celery('p', backend='sqlite:///results.db')\n"
        "app.conf.result_backend = os.environ.get('RESULTS', \"sqlite:///results.db\")\n",
        options=options,
    )


def test_result_backend_option_can_be_skipped():
    options = Options(result_backend="sqlite:///results.db", skip=frozenset({"CFQ210"}))
    result = check_noop("from cfq_shim import Celery\napp = Celery('p', backend='rpc://')\n", options=options)
    assert codes(result) == ["CFQ207"]


def test_backend_from_the_broker_variable_is_reported():
    result = check_transformed(
        "CELERY_BROKER_URL = 'redis://localhost:6379/0'\nCELERY_RESULT_BACKEND = CELERY_BROKER_URL\n",
        "CELERY_BROKER_URL = 'cloudflare://'\nCELERY_RESULT_BACKEND = CELERY_BROKER_URL\n",
        path="proj/settings.py", files={"proj/celery.py": DJANGO_APP},
    )
    assert [(f.code, f.line) for f in result.findings] == [("CFQ211", 2)]
    assert "is the broker's URL, which is now cloudflare:// and stores no results" in result.findings[0].message


def test_backend_from_the_broker_variable_with_the_option_gets_its_own_url():
    check_transformed(
        "from celery import Celery\napp = Celery('p')\napp.conf.result_backend = app.conf.broker_url\n",
        "from cfq_shim import Celery\napp = Celery('p')\napp.conf.result_backend = \"redis://cache:6379/1\"\n",
        options=Options(result_backend="redis://cache:6379/1"),
    )
