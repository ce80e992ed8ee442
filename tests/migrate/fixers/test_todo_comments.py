"""--todo-comments: a TODO line above each finding's statement, added once."""

from fixer_helpers import check_noop, check_transformed, codes

from celery2cfq.model import Options

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_todo_comments_are_added_once():
    options = Options(todo_comments=True)
    result = check_transformed(
        APP + "def f():\n    sent = app.control.broadcast('pool_grow')\n    return sent\n",
        APP + "def f():\n    # TODO(celery2cfq): CFQ501 app.control.broadcast(): Cloudflare Queues has no broadcast channel: use the "
        "calls the shim carries (revoke, shutdown, pool_restart, rate_limit, time_limit, add_consumer/cancel_consumer, ping)\n"
        "    sent = app.control.broadcast('pool_grow')\n    return sent\n",
        options=options,
    )
    assert codes(result) == ["CFQ501"]


def test_todo_comment_goes_above_decorators():
    check_transformed(
        "from cfq_shim import shared_task\n\n\n@shared_task(serializer='pickle')\ndef t():\n    pass\n",
        "from cfq_shim import shared_task\n\n\n# TODO(celery2cfq): CFQ302 task option: kept serializer='pickle'; cfq_shim sends JSON only, "
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
