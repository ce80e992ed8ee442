"""The same task code, run by Celery 5.7 and by cfq_shim, must behave the same.

Each test runs one call under Celery and under the shim in the same mode (eager, or a real worker thread)
and compares the return value or exception type, the retry count, and the order of hooks and signals.
"""

from __future__ import annotations

import pytest


def run_both(pair, task, *args):
    celery_rt, shim_rt = pair
    expected = celery_rt.call(task, *args), list(celery_rt.recorder.events)
    actual = shim_rt.call(task, *args), list(shim_rt.recorder.events)
    return expected, actual


def test_return_value_and_event_order(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "add", 2, 3)
    assert expected_result == ("ok", 5)
    assert result == expected_result
    assert events == expected_events


def test_self_retry_until_success(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "flaky", 2)
    assert expected_result == ("ok", 2)  # succeeded on the third run, with request.retries == 2
    assert result == expected_result
    assert events == expected_events
    assert [e for e in events if e[0] == "task_retry"] == [("task_retry", "flaky", "ConnectionError")] * 2


def test_autoretry_for_then_the_original_exception(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "always_fails")
    assert expected_result == ("raised", "ValueError")
    assert result == expected_result
    assert events == expected_events
    assert sum(1 for e in events if e[0] == "before_start") == 3  # first try + max_retries=2


def test_retry_past_max_retries_without_exc(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "exhausts")
    assert expected_result == ("raised", "MaxRetriesExceededError")
    assert result == expected_result
    assert events == expected_events


def test_failure_without_retry_policy(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "boom")
    assert expected_result == ("raised", "KeyError")
    assert result == expected_result
    assert events == expected_events


def test_retry_with_new_arguments(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "new_args", 0)
    assert expected_result == ("ok", 2)
    assert result == expected_result
    assert events == expected_events


def test_retry_with_kwargs_over_inherited_positional_args(pair):
    celery_rt, shim_rt = pair
    recorded = [rt.send("mixed", (1, 2), kwargs={"c": 3}) for rt in (celery_rt, shim_rt)]
    assert recorded[1] == recorded[0]
    assert ("task_success", "mixed", [11, 2, 0]) in recorded[0]  # retry(kwargs=) replaces the kwargs


def test_request_context(pair):
    (expected_result, _), (result, _) = run_both(pair, "probe", 1, 2)
    assert expected_result[0] == "ok" and expected_result[1]["args"] == [1, 2]
    assert result == expected_result


def test_custom_headers_in_the_request(pair):
    celery_rt, shim_rt = pair
    recorded = [rt.send("probe", (), headers={"tenant": "acme"}) for rt in (celery_rt, shim_rt)]
    assert recorded[1] == recorded[0]
    [(_, _, seen)] = [e for e in recorded[0] if e[0] == "task_success"]
    assert seen["headers"] == {"tenant": "acme"}


def test_ignore(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "ignored")
    if pair[0].eager:
        assert result == expected_result
    assert events == expected_events


def test_direct_call_runs_in_process_with_called_directly(pair):
    celery_rt, shim_rt = pair
    assert shim_rt.tasks["probe"](5) == celery_rt.tasks["probe"](5)
    assert shim_rt.tasks["add"](1, 2) == celery_rt.tasks["add"](1, 2) == 3


def test_direct_call_of_retry_raises_the_exception(pair):
    celery_rt, shim_rt = pair
    with pytest.raises(ConnectionError):
        celery_rt.tasks["flaky"](1)
    with pytest.raises(ConnectionError):
        shim_rt.tasks["flaky"](1)


def test_apply_returns_eager_result_with_state(pair):
    celery_rt, shim_rt = pair
    for name, args in (("add", (1, 1)), ("boom", ()), ("flaky", (1,))):
        expected = celery_rt.tasks[name].apply(args)
        actual = shim_rt.tasks[name].apply(args)
        assert (actual.state, type(actual.result).__name__) == (expected.state, type(expected.result).__name__)
        assert actual.successful() == expected.successful()


def test_eager_propagates_raises_before_failure_hooks(pair):
    celery_rt, shim_rt = pair
    outcomes = []
    for rt in (celery_rt, shim_rt):
        rt.recorder.clear()
        with pytest.raises(KeyError):
            rt.tasks["boom"].apply(throw=True)
        outcomes.append(list(rt.recorder.events))
    assert outcomes[1] == outcomes[0]


def test_eager_propagating_retry(pair):
    celery_rt, shim_rt = pair
    raised = []
    for rt in (celery_rt, shim_rt):
        rt.recorder.clear()
        try:
            rt.tasks["flaky"].apply((1,), throw=True)
        except Exception as exc:
            raised.append((type(exc).__name__, list(rt.recorder.events)))
        else:
            raised.append((None, list(rt.recorder.events)))
    assert raised[1] == raised[0]


def test_reject(pair):
    (expected_result, expected_events), (result, events) = run_both(pair, "rejected")
    assert events == expected_events
    assert [e[0] for e in events[:4]] == ["task_prerun", "before_start", "__call__", "task_postrun"]
    assert events[3][2] == "REJECTED"
    if pair[0].eager:
        assert result == expected_result


def test_link_callback_gets_the_result(pair):
    celery_rt, shim_rt = pair
    recorded = []
    for rt in (celery_rt, shim_rt):
        link = rt.tasks["collect"].s("linked")
        recorded.append(rt.send("add", (2, 3), runs=2, link=link))
    assert recorded[1] == recorded[0]
    assert ("task_success", "collect", [5, "linked"]) in recorded[0]


def test_link_error_new_and_old_style(pair):
    celery_rt, shim_rt = pair
    recorded = []
    for rt in (celery_rt, shim_rt):
        errbacks = [rt.tasks["errback_details"].s(), rt.tasks["errback_id"].s()]
        recorded.append(rt.send("boom", (), runs=2, link_error=errbacks))
    assert recorded[1] == recorded[0]
    assert ("errback_details", "errback_details", ["KeyError", True, True]) in recorded[0]
    assert ("errback_id", "errback_id", True) in recorded[0]


def test_expired_task_is_revoked_not_run(pair):
    from datetime import datetime, timedelta, timezone

    celery_rt, shim_rt = pair
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    recorded = [rt.send("add", (1, 1), expires=past) for rt in (celery_rt, shim_rt)]
    assert recorded[1] == recorded[0]
    if not celery_rt.eager:  # eager mode ignores expires, in both
        assert recorded[0] == [("task_revoked", "add", True)]


def test_publish_signals(pair):
    celery_rt, shim_rt = pair
    import celery.signals

    import cfq_shim.signals

    seen = {}
    for rt, module in ((celery_rt, celery.signals), (shim_rt, cfq_shim.signals)):
        calls = seen.setdefault(rt.name, [])

        def before(sender=None, body=None, headers=None, routing_key=None, calls=calls, **kwargs):
            calls.append(("before", sender.rsplit(".", 1)[-1], headers["task"] == sender, bool(headers["id"]),
                          headers["root_id"] == headers["id"], list(body[0]), dict(body[1]), routing_key))

        def after(sender=None, routing_key=None, calls=calls, **kwargs):
            calls.append(("after", sender.rsplit(".", 1)[-1], routing_key))

        module.before_task_publish.connect(before)
        module.after_task_publish.connect(after)
        try:
            rt.send("add", (1, 2))
        finally:
            module.before_task_publish.disconnect(before)
            module.after_task_publish.disconnect(after)
    celery_calls, shim_calls = seen.values()
    assert shim_calls == celery_calls
    if not celery_rt.eager:  # eager calls publish nothing, in both
        assert celery_calls == [("before", "add", True, True, True, [1, 2], {}, "fidelity"), ("after", "add", "fidelity")]


def _canvas(rt):
    import importlib

    return importlib.import_module("celery" if rt.name.startswith("celery") else "cfq_shim")


def _wait_runs(rt, runs):
    def finished(events):
        return sum(1 for e in events if e[0] == "task_postrun" and e[2] != "RETRY") >= runs

    return rt.recorder.wait_for(finished)


def test_chain(pair):
    recorded = []
    for rt in pair:
        canvas = _canvas(rt)
        rt.recorder.clear()
        workflow = canvas.chain(rt.tasks["add"].s(2, 3), rt.tasks["add"].s(10), rt.tasks["collect"].s("end"))
        workflow.apply_async()
        recorded.append(_wait_runs(rt, 3))
    assert recorded[1] == recorded[0]
    assert ("task_success", "collect", [15, "end"]) in recorded[0]


def test_group(pair):
    recorded = []
    for rt in pair:
        canvas = _canvas(rt)
        rt.recorder.clear()
        canvas.group(rt.tasks["add"].s(1, 1), rt.tasks["add"].s(2, 2)).apply_async()
        recorded.append(_wait_runs(rt, 2))
    assert recorded[1] == recorded[0]
    assert [e[2] for e in recorded[0] if e[0] == "task_success"] == [2, 4]
