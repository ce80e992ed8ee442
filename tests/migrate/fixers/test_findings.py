"""CFQ404, CFQ5xx: what needs a human is reported and left unchanged; TODO comments."""

from fixer_helpers import check_noop, check_transformed, codes

from celery2cfq.model import Options

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_control_inspect():
    assert codes(check_noop(APP + "stats = app.control.inspect().stats()\n")) == ["CFQ501"]


def test_control_on_something_else_stays_quiet():
    assert codes(check_noop(APP + "panel.control.inspect()\n")) == []


def test_dynamic_lookups():
    result = check_noop(APP + "def run(name):\n    app.tasks[name].delay()\n    app.send_task(name)\n    app.tasks['proj.add'].delay()\n")
    assert codes(result) == ["CFQ404", "CFQ404"]


def test_canvas():
    result = check_noop("from cfq_shim import chain, group\nfrom cfq_shim.canvas import chord\njob = chain(a, b)\ng = group([])\nc = chord([])(cb)\n")
    assert codes(result) == ["CFQ505", "CFQ505", "CFQ505"]


def test_canvas_name_from_elsewhere_stays_quiet():
    assert codes(check_noop("from cfq_shim import Celery\nfrom itertools import chain\nchain(a, b)\n")) == []


def test_signals_the_shim_never_sends():
    result = check_noop(
        "from cfq_shim.signals import beat_init, worker_ready, heartbeat_sent\n"
        "@beat_init.connect\ndef a(**kw):\n    pass\n"
        "@worker_ready.connect\ndef b(**kw):\n    pass\n"
        "heartbeat_sent.connect(a, weak=False)\n"
    )
    assert codes(result) == ["CFQ506", "CFQ506"]


def test_result_get_without_backend():
    result = check_noop(APP + "@shared_task\ndef add():\n    pass\nr = add.delay()\nr.get()\nadd.apply_async().get()\n")
    assert codes(result) == ["CFQ502", "CFQ502"]


def test_result_get_with_backend_is_quiet():
    result = check_noop(
        "from cfq_shim import Celery, shared_task\napp = Celery('p', backend='redis://')\n"
        "@shared_task\ndef add():\n    pass\nr = add.delay()\nr.get()\n"
    )
    assert codes(result) == ["CFQ207"]


def test_dict_get_is_quiet():
    assert codes(check_noop(APP + "d = {}\nd.get('x')\n")) == []


def test_beat():
    result = check_noop(APP + "app.conf.beat_schedule = {}\n@app.on_after_configure.connect\ndef setup(sender, **kw):\n    sender.add_periodic_task(10.0, t.s())\n")
    assert codes(result) == ["CFQ504", "CFQ504"]


def test_django_celery_beat():
    result = check_noop("from django_celery_beat.models import PeriodicTask\nimport django_celery_beat\nAPPS = ['django_celery_beat']\n")
    assert codes(result) == ["CFQ503", "CFQ503", "CFQ503"]


def test_todo_comments_are_added_once():
    options = Options(todo_comments=True)
    result = check_transformed(
        APP + "def f():\n    stats = app.control.inspect().stats()\n    return stats\n",
        APP + "def f():\n    # TODO(celery2cfq): CFQ501 app.control (inspect/revoke/broadcast) has no equivalent on Cloudflare Queues\n"
        "    stats = app.control.inspect().stats()\n    return stats\n",
        options=options,
    )
    assert codes(result) == ["CFQ501"]


def test_todo_comment_goes_above_decorators():
    check_transformed(
        "from cfq_shim import shared_task\n\n\n@shared_task(serializer='pickle')\ndef t():\n    pass\n",
        "from cfq_shim import shared_task\n\n\n# TODO(celery2cfq): CFQ302 task option: kept serializer= other than 'json'; cfq_shim sends JSON only, "
        "so arguments must be JSON-serialisable\n@shared_task(serializer='pickle')\ndef t():\n    pass\n",
        options=Options(todo_comments=True),
    )


def test_todo_comment_on_a_split_import():
    check_transformed(
        "from celery import Celery, bootsteps\n",
        "from cfq_shim import Celery\n"
        "# TODO(celery2cfq): CFQ103 cfq_shim does not provide bootsteps (from celery); left on Celery\n"
        "from celery import bootsteps\n",
        options=Options(todo_comments=True),
    )


def test_finding_lines_are_one_based():
    result = check_noop(APP + "\n\nx = app.control\n")
    assert [(f.code, f.line) for f in result.findings] == [("CFQ501", 5)]
