"""CFQ501: app.control."""

from fixer_helpers import check_noop, codes

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_control_inspect():
    assert codes(check_noop(APP + "stats = app.control.inspect().stats()\n")) == ["CFQ501"]


def test_control_on_something_else_stays_quiet():
    assert codes(check_noop(APP + "panel.control.inspect()\n")) == []


def test_finding_lines_are_one_based():
    result = check_noop(APP + "\n\nx = app.control\n")
    assert [(f.code, f.line) for f in result.findings] == [("CFQ501", 5)]
