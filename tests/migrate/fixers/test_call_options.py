"""CFQ401-CFQ403: call sites, only where the index ties them to Celery."""

from fixer_helpers import check_noop, check_transformed, codes

TASKS = ("proj/tasks.py", "from celery import shared_task, Celery\napp = Celery('p')\n@shared_task\ndef add(x, y):\n    return x + y\n")


def test_delay_is_counted_and_kept():
    result = check_noop("from .tasks import add\nadd.delay(1, 2)\nadd.s(1, 2)\nadd.si(1, 2)\n", path="proj/views.py", files=dict([TASKS]))
    assert result.call_sites == 3 and codes(result) == []


def test_apply_async_removed_options():
    result = check_transformed(
        "from .tasks import add\nadd.apply_async((1, 2), countdown=5, exchange='x', routing_key='r')\n",
        "from .tasks import add\nadd.apply_async((1, 2), countdown=5)\n",
        path="proj/views.py", files=dict([TASKS]),
    )
    assert codes(result) == ["CFQ401", "CFQ401"] and result.call_sites == 1


def test_apply_async_honoured_options_stay():
    result = check_noop(
        "from .tasks import add\nadd.apply_async(args=(1, 2), kwargs={}, eta=t, expires=60, queue='q', task_id='i',"
        " headers={}, link=add.s(), link_error=add.s())\n",
        path="proj/views.py", files=dict([TASKS]),
    )
    assert codes(result) == [] and result.call_sites == 3


def test_unpacked_options_are_reported():
    result = check_noop("from .tasks import add\nadd.apply_async((1, 2), **opts)\n", path="proj/views.py", files=dict([TASKS]))
    assert codes(result) == ["CFQ402"]


def test_unknown_option_is_kept_and_reported():
    result = check_noop("from .tasks import add\nadd.apply_async((1, 2), retry_policy={})\n", path="proj/views.py", files=dict([TASKS]))
    assert codes(result) == ["CFQ403"]


def test_signature_options():
    check_transformed(
        "from proj.tasks import add\nsig = add.signature((1, 2), priority=1)\n",
        "from proj.tasks import add\nsig = add.signature((1, 2))\n",
        path="proj/views.py", files=dict([TASKS]),
    )


def test_send_task_on_the_app():
    result = check_transformed(
        "from proj.tasks import app\napp.send_task('proj.tasks.add', args=(1, 2), priority=3)\n",
        "from proj.tasks import app\napp.send_task('proj.tasks.add', args=(1, 2))\n",
        path="proj/views.py", files=dict([TASKS]),
    )
    assert result.call_sites == 1


def test_module_attribute_call():
    result = check_transformed(
        "from proj import tasks\ntasks.add.apply_async((1, 2), priority=3)\n",
        "from proj import tasks\ntasks.add.apply_async((1, 2))\n",
        path="proj/views.py", files=dict([TASKS]),
    )
    assert result.call_sites == 1


def test_non_celery_delay_is_never_touched():
    result = check_noop(
        "from mailer import later\nlater.delay(1)\nlater.apply_async((1,), priority=3)\n",
        path="proj/views.py", files=dict([TASKS]),
    )
    assert result.call_sites == 0 and codes(result) == []


def test_unknown_name_is_never_touched():
    result = check_noop("def f(task):\n    task.apply_async(priority=3)\n", path="proj/views.py", files=dict([TASKS]))
    assert result.call_sites == 0


def test_delay_arguments_named_like_options_stay():
    check_noop("from .tasks import add\nadd.delay(priority=1, exchange=2)\n", path="proj/views.py", files=dict([TASKS]))


def test_dotted_module_import():
    result = check_transformed(
        "import proj.tasks\n\n\ndef go():\n    proj.tasks.add.apply_async((1, 2), priority=3)\n",
        "import proj.tasks\n\n\ndef go():\n    proj.tasks.add.apply_async((1, 2))\n",
        path="web/views.py", files=dict([TASKS]),
    )
    assert result.call_sites == 1
