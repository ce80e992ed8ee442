"""Findings for code that the rewrite passes and that fails (or silently does nothing) at run time
on the shim (issue 10): message signing (CFQ507), task serializers (CFQ209), kombu and app.amqp
(CFQ508), greenlet pools (CFQ509), celery.contrib (CFQ510), Celery instrumentation (CFQ511). Each
file is left as it is apart from the usual import rewrite, and a second run changes nothing."""

from __future__ import annotations

import pytest
from fixer_helpers import check_noop, check_transformed, codes

APP = "from celery import Celery\napp = Celery('p')\n"
APP_AFTER = "from cfq_shim import Celery\napp = Celery('p')\n"
CONFIG_APP = ("proj/celery.py", "from celery import Celery\napp = Celery('proj')\napp.config_from_object('celeryconfig')\n")


def _same_but_imports(body: str, **kwargs):
    return check_transformed(APP + body, APP_AFTER + body, **kwargs)


def _findings(result):
    return [(f.code, f.line) for f in result.findings]


# --- CFQ507 message signing ------------------------------------------------------------------------


def test_auth_serializer_accept_content_and_setup_security_are_reported():
    result = _same_but_imports(
        "app.conf.update(task_serializer='auth', accept_content=['auth', 'json'])\n"
        "app.conf.result_serializer = 'json'\n"
        "app.setup_security(allowed_serializers=['json'], key='k.key', cert='c.pem', store='/certs')\n"
    )
    assert _findings(result) == [("CFQ507", 3), ("CFQ507", 3), ("CFQ507", 5)]
    messages = sorted(f.message for f in result.findings)
    assert messages[0].startswith("accept_content with 'auth': cfq_shim does not verify signatures, so unsigned")
    assert messages[1].startswith("app.setup_security(): cfq_shim has no message signing")
    assert messages[2].startswith("task_serializer='auth': cfq_shim does not sign messages and refuses any task")


def test_auth_in_a_config_module_and_json_only_settings():
    result = check_noop("task_serializer = 'auth'\naccept_content = ('json',)\n", path="celeryconfig.py", files=dict([CONFIG_APP]))
    assert _findings(result) == [("CFQ507", 1)]


def test_setup_security_on_something_else_is_not_reported():
    assert codes(check_noop("from myauth import client\nclient.setup_security()\n")) == []


# --- CFQ209 task serializer ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["pickle", "yaml", "msgpack"])
def test_a_serializer_the_shim_refuses_is_reported(value):
    result = _same_but_imports(f"app.conf.task_serializer = '{value}'\n")
    assert [(f.code, f.message) for f in result.findings] == [(
        "CFQ209",
        f"task_serializer='{value}': cfq_shim refuses it at start-up (messages are JSON only); set 'json' and make "
        "task arguments JSON-serialisable",
    )]


def test_json_serializer_is_fine():
    assert codes(_same_but_imports("app.conf.task_serializer = 'json'\n")) == []


# --- CFQ508 kombu and app.amqp ---------------------------------------------------------------------


def test_kombu_queue_and_exchange_imports_are_reported_with_what_to_do():
    result = _same_but_imports(
        "from kombu import Exchange, Queue\n"
        "app.conf.task_queues = (Queue('mail', Exchange('mail'), routing_key='mail'),)\n"
    )
    assert [(f.code, f.line, f.message) for f in result.findings] == [(
        "CFQ508", 3,
        "from kombu import Exchange, Queue: Exchange: Cloudflare Queues has no exchanges: route with task_routes or "
        "queue=; Queue: only the queue's name is read (no exchanges, routing keys or queue arguments on Cloudflare "
        "Queues): write the name",
    )]


def test_import_kombu_names_the_attributes_used():
    result = _same_but_imports("import kombu\n\nwith kombu.Connection('amqp://') as conn:\n    conn.Producer().publish({})\n")
    assert [(f.code, f.line) for f in result.findings] == [("CFQ508", 3)]
    assert result.findings[0].message.startswith("import kombu: Connection: talks to the old broker")


def test_app_amqp_is_reported():
    result = _same_but_imports("with app.amqp.producer_pool.acquire(block=True) as producer:\n    pass\n")
    assert _findings(result) == [("CFQ508", 3)]


def test_kombu_exceptions_are_migrated_without_this_finding():
    result = check_transformed(
        "from kombu.exceptions import OperationalError\n", "from cfq_shim.exceptions import OperationalError\n"
    )
    assert codes(result) == []


def test_amqp_on_something_else_is_not_reported():
    assert codes(check_noop("import pika\nsettings.amqp.url = 'x'\n")) == []


# --- CFQ509 greenlet pools -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["gevent", "eventlet", "celery.concurrency.gevent:TaskPool"])
def test_greenlet_pool_in_configuration_says_what_to_use_instead(value):
    pool = "eventlet" if "eventlet" in value else "gevent"
    result = check_noop(f"worker_pool = '{value}'\nworker_concurrency = 500\n", path="celeryconfig.py", files=dict([CONFIG_APP]))
    assert [(f.code, f.message) for f in result.findings] == [(
        "CFQ509",
        f"worker_pool={value!r}: cfq-shim worker has no {pool} pool (prefork, threads, solo); for I/O-bound tasks "
        f"start it with -P threads -c N (N as this pool's concurrency) and drop the {pool} monkey-patching",
    )]


def test_old_pool_setting_name_is_renamed_and_reported():
    result = check_transformed(
        "CELERYD_POOL = 'eventlet'\n", "worker_pool = 'eventlet'\n", path="celeryconfig.py", files=dict([CONFIG_APP])
    )
    assert codes(result) == ["CFQ509"]


def test_threads_pool_is_not_reported():
    assert codes(_same_but_imports("app.conf.worker_pool = 'threads'\n")) == []


# --- CFQ510 celery.contrib -------------------------------------------------------------------------


def test_contrib_names_get_their_own_finding_instead_of_cfq103():
    source = "from celery.contrib.abortable import AbortableTask\nfrom celery.contrib import rdb\nimport celery.contrib.testing.manager\n"
    result = check_noop(source)
    assert _findings(result) == [("CFQ510", 1), ("CFQ510", 2), ("CFQ510", 3)]
    assert "have the task check a flag" in result.findings[0].message
    assert "breakpoint()" in result.findings[1].message
    assert "cfq_shim's pytest plugin" in result.findings[2].message


def test_a_split_import_keeps_the_contrib_name_the_shim_lacks_on_celery():
    result = check_transformed(
        "from celery.contrib.pytest import celery_app, celery_class_tasks\n",
        "from cfq_shim.contrib.pytest import celery_app\nfrom celery.contrib.pytest import celery_class_tasks\n",
    )
    assert _findings(result) == [("CFQ510", 1)]
    assert result.findings[0].message.startswith(
        "celery_class_tasks (from celery.contrib.pytest): cfq_shim.contrib.pytest has no celery_class_tasks;"
    )


def test_celery_test_worker_and_fixtures_become_the_shims():
    result = check_transformed(
        "from celery.contrib.testing.worker import start_worker\nfrom celery.contrib.pytest import celery_app as app\n"
        "import celery.contrib.testing.worker\n\nstart = celery.contrib.testing.worker.start_worker\n",
        "from cfq_shim.contrib.testing.worker import start_worker\nfrom cfq_shim.contrib.pytest import celery_app as app\n"
        "import cfq_shim.contrib.testing.worker\n\nstart = cfq_shim.contrib.testing.worker.start_worker\n",
    )
    assert codes(result) == []


def test_django_task_is_provided_by_the_shim():
    result = check_transformed(
        "from celery.contrib.django.task import DjangoTask\n", "from cfq_shim.fixups.django import DjangoTask\n"
    )
    assert codes(result) == []


# --- CFQ511 instrumentation ------------------------------------------------------------------------


def test_sentry_integration_is_reported_in_a_file_without_other_celery_code():
    source = (
        "import sentry_sdk\nfrom sentry_sdk.integrations.celery import CeleryIntegration\n\n"
        "sentry_sdk.init(dsn='https://k@sentry.example/1', integrations=[CeleryIntegration()])\n"
    )
    result = check_noop(source, path="proj/settings.py")
    assert _findings(result) == [("CFQ511", 2)]
    assert "task failures on cfq_shim would not be reported" in result.findings[0].message


def test_opentelemetry_instrumentor_is_reported():
    source = "from opentelemetry.instrumentation.celery import CeleryInstrumentor\n\nCeleryInstrumentor().instrument()\n"
    result = check_noop(source, path="proj/tracing.py")
    assert _findings(result) == [("CFQ511", 1)]


def test_other_sentry_integrations_are_not_reported():
    assert codes(check_noop("from sentry_sdk.integrations.django import DjangoIntegration\nimport celery_like\n")) == []
