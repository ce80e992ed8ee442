"""Broker-side failures reach ``.delay()`` callers as kombu's ``OperationalError`` (Celery's contract),
keeping Cloudflare's error code: a migrated ``except OperationalError:`` still catches a broker outage.

``celery2cfq rewrite`` maps ``kombu.exceptions.OperationalError`` to ``cfq_shim.exceptions.OperationalError``.
"""

from __future__ import annotations

import socket

import pytest
from stand_in_support import ACCOUNT, SECRET_TOKEN, start_stand_in, stop_stand_in

from cfq_shim import Celery
from cfq_shim.exceptions import OperationalError
from cfq_shim.transport.base import AuthenticationFailed, Overloaded, QueueNotFound, TransportError


@pytest.fixture
def cf_env(monkeypatch, stand_in):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", stand_in.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.delenv("CFQ_SHIM_QUEUE_PREFIX", raising=False)
    # One SDK try per call: the injected failures below answer once, and the test stays quick.
    return f"cloudflare://{ACCOUNT}?max_retries=0"


def make_app(broker: str) -> Celery:
    app = Celery("errs", broker=broker, set_as_current=False)

    @app.task
    def add(x, y):
        return x + y

    return app


def test_every_transport_error_is_an_operational_error():
    assert issubclass(TransportError, OperationalError)


def test_missing_queue_is_operational_error_with_code_10104(cf_env):
    app = make_app(cf_env)
    with pytest.raises(OperationalError) as caught:
        app.tasks["test_operational_errors.add"].delay(1, 2)
    assert isinstance(caught.value, QueueNotFound)
    assert caught.value.code == 10104
    assert "provision" in str(caught.value)


def test_overloaded_service_is_operational_error_with_its_code(cf_env, stand_in):
    app = make_app(cf_env)
    app.transport.declare_queue("celery")
    stand_in.fail_next("messages.batch", status=429, code=Overloaded.code, count=10)
    stand_in.fail_next("messages.push", status=429, code=Overloaded.code, count=10)
    with pytest.raises(OperationalError) as caught:
        app.send_task("anything", queue="celery")
    assert isinstance(caught.value, Overloaded)
    assert caught.value.code == Overloaded.code


def test_rejected_credentials_are_operational_error_without_the_token(cf_env, tmp_path, monkeypatch):
    guarded = start_stand_in(tmp_path / "guarded.sqlite3", token="the-right-token")
    try:
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", guarded.base_url)
        app = make_app(cf_env)
        with pytest.raises(OperationalError) as caught:
            app.send_task("anything")
        assert isinstance(caught.value, AuthenticationFailed)
        assert caught.value.code == AuthenticationFailed.code
        assert SECRET_TOKEN not in str(caught.value)
    finally:
        stop_stand_in(guarded)


def test_unreachable_service_is_operational_error(cf_env, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", f"http://127.0.0.1:{port}/client/v4")
    app = make_app(cf_env)
    with pytest.raises(OperationalError, match="cannot reach the Cloudflare API"):
        app.send_task("anything")


def test_an_embedded_store_that_cannot_be_opened_is_operational_error_naming_the_file(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app = make_app(f"sqlite:///{blocker}/queues.sqlite3")
    with pytest.raises(OperationalError, match=r"cannot open the embedded store .*not-a-directory"):
        app.send_task("anything")
