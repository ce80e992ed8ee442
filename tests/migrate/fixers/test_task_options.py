"""CFQ301/CFQ302: task definition options."""

import pytest

from fixer_helpers import check_noop, check_transformed, codes

APP = "from celery import Celery, shared_task\napp = Celery('p')\n"
APP_AFTER = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_priority_removed_from_app_task():
    result = check_transformed(
        APP + "@app.task(bind=True, priority=3)\ndef t(self):\n    pass\n",
        APP_AFTER + "@app.task(bind=True)\ndef t(self):\n    pass\n",
    )
    assert codes(result) == ["CFQ301"]


def test_removed_from_the_middle():
    check_transformed(
        APP + "@shared_task(name='x', exchange='e', queue='q')\ndef t():\n    pass\n",
        APP_AFTER + "@shared_task(name='x', queue='q')\ndef t():\n    pass\n",
    )


def test_last_option_removed_keeps_trailing_comma_style():
    check_transformed(
        APP + "@shared_task(\n    bind=True,\n    routing_key='r',\n)\ndef t(self):\n    pass\n",
        APP_AFTER + "@shared_task(\n    bind=True,\n)\ndef t(self):\n    pass\n",
    )


def test_only_option_removed():
    check_transformed(
        APP + "@shared_task(priority=1)\ndef t():\n    pass\n",
        APP_AFTER + "@shared_task\ndef t():\n    pass\n",
    )


def test_decorator_alias_with_options():
    check_transformed(
        APP + "retrying = shared_task(acks_late=True, priority=2)\n",
        APP_AFTER + "retrying = shared_task(acks_late=True)\n",
    )


def test_call_form():
    check_transformed(
        APP + "def f():\n    pass\nt = app.task(f, delivery_mode=2)\n",
        APP_AFTER + "def f():\n    pass\nt = app.task(f)\n",
    )


def test_honoured_options_stay():
    result = check_noop(
        "from cfq_shim import shared_task\n"
        "@shared_task(bind=True, autoretry_for=(IOError,), retry_backoff=True, retry_kwargs={'max_retries': 5},\n"
        "             soft_time_limit=10, rate_limit='1/s', serializer='json', acks_late=True, base=object)\n"
        "def t(self):\n    pass\n"
    )
    assert codes(result) == []


def test_pickle_serializer_kept_with_finding():
    assert codes(check_noop("from cfq_shim import shared_task\n@shared_task(serializer='pickle')\ndef t():\n    pass\n")) == ["CFQ302"]


def test_an_option_the_shim_does_not_act_on_is_kept_with_its_reason():
    result = check_noop("from cfq_shim import shared_task\n@shared_task(reject_on_worker_lost=True)\ndef t():\n    pass\n")
    assert [(f.code, f.message) for f in result.findings] == [(
        "CFQ302",
        "task option: kept reject_on_worker_lost=; the shim does not act on it: a message whose worker died comes back "
        "when its lease lapses",
    )]


@pytest.mark.parametrize("option", ["Request='proj.requests:Audited'", "acks_on_failure_or_timeout=False", "pydantic=True"])
def test_other_options_that_change_behaviour_are_reported(option):
    source = f"from celery import shared_task\n\n@shared_task({option})\ndef t():\n    pass\n"
    result = check_transformed(source, source.replace("from celery", "from cfq_shim"))
    assert codes(result) == ["CFQ302"]


def test_custom_options_are_task_attributes_in_both_and_get_no_finding():
    # Celery and the shim both set unknown keywords as attributes of the task (verbose_name is read
    # back by admin pages): nothing changes, so nothing is reported.
    source = (
        "from celery import shared_task\n\n"
        "@shared_task(bind=True, verbose_name='Send the digest', description='Weekly e-mail', send_events=False)\n"
        "def digest(self):\n    return self.verbose_name\n"
    )
    result = check_transformed(source, source.replace("from celery", "from cfq_shim"))
    assert codes(result) == []


def test_not_a_celery_decorator():
    check_noop("from huey import task\n@task(priority=3)\ndef t():\n    pass\n")


def test_method_named_task_on_something_else():
    check_noop("from cfq_shim import Celery\nscheduler.task(priority=3)\n")


def test_skip_keeps_the_option():
    from celery2cfq.model import Options

    result = check_noop(
        "from cfq_shim import shared_task\n@shared_task(priority=3)\ndef t():\n    pass\n",
        options=Options(skip=frozenset({"CFQ301"})),
    )
    assert codes(result) == []


def test_tasks_are_counted():
    result = check_noop(
        "from cfq_shim import Celery, shared_task\napp = Celery('p')\n@app.task\ndef a():\n    pass\n"
        "@shared_task\ndef b():\n    pass\ndef c():\n    pass\nd = app.task(c)\n"
    )
    assert result.tasks_found == 3


def test_task_class_attributes():
    result = check_transformed(
        "from celery import Task\n\n\nclass Base(Task):\n    priority = 5\n    acks_late = True\n",
        "from cfq_shim import Task\n\n\nclass Base(Task):\n    acks_late = True\n",
    )
    assert codes(result) == ["CFQ301"]


def test_task_class_left_empty_gets_pass():
    check_transformed(
        "from celery import Task\n\n\nclass Base(Task):\n    routing_key = 'x'\n",
        "from cfq_shim import Task\n\n\nclass Base(Task):\n    pass\n",
    )


def test_other_classes_keep_their_priority():
    check_noop("from cfq_shim import Task\n\n\nclass Job:\n    priority = 5\n")


def test_current_app_task():
    check_transformed(
        "from celery import current_app\n\n@current_app.task(priority=1)\ndef t():\n    pass\n",
        "from cfq_shim import current_app\n\n@current_app.task\ndef t():\n    pass\n",
    )


def test_celery_subclass_app():
    check_transformed(
        "from celery import Celery\n\nclass MyCelery(Celery):\n    pass\n\napp = MyCelery('p')\n\n@app.task(exchange='x')\ndef t():\n    pass\n",
        "from cfq_shim import Celery\n\nclass MyCelery(Celery):\n    pass\n\napp = MyCelery('p')\n\n@app.task\ndef t():\n    pass\n",
    )


def test_parentheses_without_options_stay():
    check_noop("from cfq_shim import shared_task\n@shared_task()\ndef t():\n    pass\n")
