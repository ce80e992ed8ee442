"""CFQ404: tasks looked up by a run-time name."""

from fixer_helpers import check_noop, codes

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_dynamic_lookups():
    result = check_noop(APP + "def run(name):\n    app.tasks[name].delay()\n    app.send_task(name)\n    app.tasks['proj.add'].delay()\n")
    assert codes(result) == ["CFQ404", "CFQ404"]
