"""CFQ501: app.control calls the shim does not carry (issue 9); the ones it carries stay quiet."""

import pytest
from fixer_helpers import check_noop, codes

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


@pytest.mark.parametrize("call", [
    "app.control.revoke(job_ids)", "app.control.revoke([])", "app.control.revoke(tid, terminate=True, signal='SIGKILL')",
    "app.control.ping(timeout=1.0)", "app.control.shutdown()", "app.control.terminate(tid, signal='SIGKILL')",
    "app.control.purge()", "app.control.inspect().revoked()", "app.control.inspect().query_task(tid)",
    "app.control.add_consumer('mail', reply=True)", "app.control.cancel_consumer('mail')",
    "app.control.rate_limit('proj.tasks.add', '10/m')", "app.control.time_limit('proj.tasks.add', soft=60, hard=120)",
    "app.control.inspect().active()", "app.control.inspect(['celery@a']).scheduled()", "app.control.inspect().reserved()",
    "app.control.inspect().registered()", "app.control.inspect().stats()", "app.control.inspect().ping()",
    "app.control.inspect().active_queues()",
])
def test_calls_the_shim_carries_are_quiet(call):
    assert codes(check_noop(APP + f"result = {call}\n")) == []


@pytest.mark.parametrize("call, reason", [
    ("app.control.broadcast('pool_grow', arguments={'n': 1})", "Cloudflare Queues has no broadcast channel"),
    ("app.control.revoke_by_stamped_headers({'k': 'v'})", "revoke the tasks by id"),
    ("app.control.autoscale(10, 2)", "fixed size"),
    ("app.control.enable_events()", "no Celery events"),
    ("app.control.pool_restart(reload=True)", "restart the worker process"),
    ("app.control.inspect().conf()", "read app.conf"),
    ("app.control.inspect().objgraph()", "not answered by the shim's workers"),
])
def test_calls_that_still_do_not_work_keep_the_finding_with_the_reason(call, reason):
    result = check_noop(APP + f"result = {call}\n")
    assert codes(result) == ["CFQ501"]
    assert reason in result.findings[0].message


def test_an_inspector_kept_in_a_name():
    result = check_noop(APP + "\ndef report():\n    i = app.control.inspect()\n    return i.active(), i.memdump()\n")
    assert [(f.code, f.line) for f in result.findings] == [("CFQ501", 6)]
    assert result.findings[0].message.startswith("inspect().memdump():")


def test_control_on_something_else_stays_quiet():
    assert codes(check_noop(APP + "panel.control.inspect().objgraph()\n")) == []


def test_control_as_an_object_is_reported_at_its_line():
    result = check_noop(APP + "\n\nx = app.control\n")
    assert [(f.code, f.line) for f in result.findings] == [("CFQ501", 5)]
    assert result.findings[0].message.startswith("app.control used as an object")
