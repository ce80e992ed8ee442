"""``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND`` from the environment beat the configured value, as in
Celery 5.7 (``celery.app.utils.Settings.broker_url``/``result_backend``), measured against real Celery on
the same configuration: attribute access reads the variable first whatever the namespace, item access and
``conf.get`` return the configured value, and an empty variable does not count."""

from __future__ import annotations

import types

import celery
import pytest

import cfq_shim
from cfq_shim.transport import UnsupportedBrokerURL


def _configure(cls, case: str):
    if case == "keyword":
        return cls("kw", broker="sqlite:///kw.db", backend="rpc://", set_as_current=False)
    app = cls(case, set_as_current=False)
    if case == "namespace CELERY":  # Django's settings, read with namespace='CELERY'
        app.config_from_object(types.SimpleNamespace(CELERY_BROKER_URL="sqlite:///ns.db",
                                                     CELERY_RESULT_BACKEND="rpc://"), namespace="CELERY")
    elif case == "namespace FOO":  # another namespace: CELERY_BROKER_URL still wins, FOO_BROKER_URL is never read
        app.config_from_object(types.SimpleNamespace(FOO_BROKER_URL="sqlite:///foo.db"), namespace="FOO")
    elif case == "conf attribute":
        app.conf.broker_url = "sqlite:///set.db"
        app.conf.result_backend = "rpc://"
    elif case == "config module":
        app.config_from_object(types.SimpleNamespace(broker_url="sqlite:///module.db"))
    return app


def _observed(app) -> dict:
    conf = app.conf
    return {
        "conf.broker_url": conf.broker_url,
        "conf.get('broker_url')": conf.get("broker_url"),
        "conf['broker_url']": conf["broker_url"],
        "conf.result_backend": conf.result_backend,
        "conf.get('result_backend')": conf.get("result_backend"),
    }


CASES = ["keyword", "namespace CELERY", "namespace FOO", "conf attribute", "config module", "nothing"]
ENVIRONMENTS = {
    "both set": {"CELERY_BROKER_URL": "memory://", "CELERY_RESULT_BACKEND": "cache+memory://"},
    "empty values": {"CELERY_BROKER_URL": "", "CELERY_RESULT_BACKEND": ""},
    "namespaced name": {"FOO_BROKER_URL": "memory://"},
    "unset": {},
}


@pytest.mark.parametrize("environment", list(ENVIRONMENTS))
@pytest.mark.parametrize("case", CASES)
def test_settings_read_as_celery_reads_them(monkeypatch, case, environment):
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "FOO_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENVIRONMENTS[environment].items():
        monkeypatch.setenv(name, value)
    expected = _observed(_configure(celery.Celery, case))
    assert _observed(_configure(cfq_shim.Celery, case)) == expected


def test_environment_runs_a_cloudflare_project_locally(monkeypatch, tmp_path):
    # Given code that names Cloudflare, and a developer's CELERY_BROKER_URL pointing at a local file
    monkeypatch.setenv("CELERY_BROKER_URL", f"sqlite:///{tmp_path}/dev.sqlite3")
    app = cfq_shim.Celery("proj", broker="cloudflare://0123456789abcdef", set_as_current=False)
    # When the app opens its broker, Then it is the embedded store named by the environment
    try:
        assert app.broker_url == f"sqlite:///{tmp_path}/dev.sqlite3"
        assert app.transport.scheme == "sqlite"
        app.send_task("proj.add", (1, 2))
        assert app.transport.pull(app.conf.task_default_queue, batch_size=10, visibility_timeout_ms=1000)
    finally:
        app.close()


def test_an_old_broker_left_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://user:secret@cache:6379/0")
    app = cfq_shim.Celery("proj", broker="sqlite:///x.db", set_as_current=False)
    with pytest.raises(UnsupportedBrokerURL) as raised:
        app.transport  # noqa: B018 - opening it is the point
    message = str(raised.value)
    assert "the environment variable CELERY_BROKER_URL" in message
    assert "secret" not in message
