"""Signatures and canvas shapes as sent; names for later features build, and using them raises an error
that names them; reading results without a result backend suggests one."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cfq_shim import AsyncResult, chain, chord, crontab, group, schedule, signature, states, xmap
from cfq_shim.envelope import decode
from cfq_shim.backend import NoResultBackend
from cfq_shim.exceptions import FeatureNotAvailable


@pytest.fixture
def app(make_app):
    return make_app("canvas")


def test_signature_forms_and_calls(app):
    @app.task
    def add(x, y):
        return x + y

    s = add.s(2)
    assert (s.task, s.args, s.kwargs, s.immutable) == (add.name, (2,), {}, False)
    assert s(3) == 5
    pair = app.task(lambda a, b: (a, b), name="canvas.pair")
    assert pair.s("sig")("partial") == ("partial", "sig")  # partial arguments come first, as in Celery
    assert add.si(1, 1).immutable and add.signature((1, 2), countdown=5).options == {"countdown": 5}
    clone = s.clone(args=(4,))
    assert clone.args == (4, 2) and s.args == (2,)
    s.set(queue="q")
    assert s.options["queue"] == "q"
    assert signature(add.name, args=(1,)).task == add.name
    assert dict(signature(dict(s))) == dict(s)


def test_signature_delay_and_apply_async(app):
    @app.task
    def add(x, y):
        return x + y

    add.s(1).delay(2)
    add.s(1, 2).apply_async(countdown=0, queue="other")
    app.signature("remote.task", args=(1,)).apply_async()
    [first, remote] = [decode(m.body) for m in app.transport.pull("celery", batch_size=10, visibility_timeout_ms=1000)]
    [other] = [decode(m.body) for m in app.transport.pull("other", batch_size=10, visibility_timeout_ms=1000)]
    assert first.args == [2, 1] and other.args == [1, 2] and remote.task == "remote.task"


def test_link_runs_the_callback_with_the_result(app):
    app.conf.task_always_eager = True
    seen = []

    @app.task
    def add(x, y):
        return x + y

    @app.task
    def record(value, tag):
        seen.append((value, tag))

    add.apply_async((2, 3), link=record.s("linked"))
    assert seen == [(5, "linked")]


def test_chain_is_sent_as_link_callbacks(app):
    @app.task
    def add(x, y):
        return x + y

    result = chain(add.s(1, 2), add.s(10), add.si(5, 5)).apply_async(countdown=0)
    [first] = [decode(m.body) for m in app.transport.pull("celery", batch_size=10, visibility_timeout_ms=1000)]
    assert first.args == [1, 2]
    [second] = first.callbacks
    [third] = second["options"]["link"]
    assert (second["args"], third["args"], third["immutable"]) == ([10], [5, 5], True)
    assert result.id == third["options"]["task_id"] and result.parent.id == second["options"]["task_id"]
    assert result.parent.parent.id == first.id


def test_group_sends_every_task_with_the_group_id(app):
    @app.task
    def add(x, y):
        return x + y

    result = group(add.s(1, 1), add.s(2, 2)).apply_async()
    sent = [decode(m.body) for m in app.transport.pull("celery", batch_size=10, visibility_timeout_ms=1000)]
    assert [e.args for e in sent] == [[1, 1], [2, 2]]
    assert {e.group_id for e in sent} == {result.id} and [r.id for r in result.results] == [e.id for e in sent]
    with pytest.raises(NoResultBackend, match="sqlite:///"):
        result.get()


def test_canvas_in_eager_mode_runs_like_celery(app):
    app.conf.task_always_eager = True

    @app.task
    def add(x, y):
        return x + y

    @app.task
    def total(values):
        return sum(values)

    assert chain(add.s(1, 2), add.s(10), add.s(100)).apply_async().get() == 113
    assert (add.s(1, 2) | add.s(10)).delay().get() == 13
    assert group(add.s(1, 1), add.s(2, 2)).apply_async().get() == [2, 4]
    assert chord([add.s(1, 1), add.s(2, 2)])(total.s()).get() == 6
    assert (group(add.s(1, 1), add.s(2, 2)) | total.s()).delay().get() == 6


def test_a_chord_needs_a_result_backend_and_says_so_before_sending(app):
    @app.task
    def add(x, y):
        return x + y

    for built in (chord([add.s(1, 1)], add.s(2)), chain(group(add.s(1, 1)), add.s(1))):
        with pytest.raises(NoResultBackend, match="result_backend"):
            built.apply_async()
        with pytest.raises(NotImplementedError):  # as Celery's DisabledBackend
            built.delay()
    add.delay(7, 7)  # nothing of the chords was sent: this is the only message
    assert [decode(m.body).args for m in app.transport.peek("celery", batch_size=10)] == [[7, 7]]


def test_map_is_sent_as_the_builtin_map_task(app):
    @app.task
    def add(x, y):
        return x + y

    xmap(add.s(), [1, 2]).apply_async()
    [sent] = [decode(m.body) for m in app.transport.pull("celery", batch_size=10, visibility_timeout_ms=1000)]
    assert sent.task == "celery.map" and sent.kwargs["it"] == [1, 2] and sent.kwargs["task"]["task"] == add.name


def test_async_result_holds_an_id_and_suggests_a_backend(app):
    result = AsyncResult("abc")
    assert result.id == result.task_id == "abc" and result == AsyncResult("abc") and str(result) == "abc"
    with pytest.raises(NoResultBackend, match=r"No result backend is configured.*sqlite:///"):
        result.get(timeout=1)
    with pytest.raises(NoResultBackend):
        result.state


def test_crontab_and_schedule_build_and_name_beat(app):
    entry = crontab(minute=0, hour="*/3")
    app.conf.beat_schedule = {"every-3h": {"task": "x", "schedule": entry}, "every-10s": {"task": "y", "schedule": schedule(10)}}
    assert "0 */3" in repr(entry) and schedule(10).seconds == 10
    # Beat runs them now (cfq_shim.beat; compared with Celery in tests/shim/beat/test_beat_schedules.py).
    assert entry.is_due(datetime(2000, 1, 1, tzinfo=timezone.utc)).is_due is True


def test_app_control_names_the_calls_it_cannot_carry(app):
    with pytest.raises(FeatureNotAvailable, match=r"app\.control\.election\(\).*broadcast channel"):
        app.control.election("id", "topic", "action")
    with pytest.raises(FeatureNotAvailable, match=r"revoke_by_stamped_headers\(\).*revoke by task id"):
        app.control.revoke_by_stamped_headers({"tenant": "a"})
    with pytest.raises(FeatureNotAvailable, match=r"inspect\(\)\.memdump\(\)"):
        app.control.inspect().memdump()


def test_states_match_celery():
    import celery.states

    for name in ("PENDING", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED", "REJECTED", "IGNORED"):
        assert getattr(states, name) == getattr(celery.states, name)
    assert states.READY_STATES == celery.states.READY_STATES


def test_every_public_name_imports():
    import celery

    import cfq_shim

    for name in ("Celery", "shared_task", "Task", "group", "chain", "chord", "signature", "Signature", "states",
                 "current_app", "current_task", "crontab", "schedule", "AsyncResult", "get_task_logger"):
        assert hasattr(cfq_shim, name), name
    assert cfq_shim.__version__
    assert hasattr(celery, "Celery")  # the comparison target exists


def test_every_name_the_codemod_maps_imports_from_the_shim():
    import importlib

    from celery2cfq.names import MODULE_TARGETS

    for celery_module, (shim_module, names) in MODULE_TARGETS.items():
        module = importlib.import_module(shim_module)
        for name in names:
            assert hasattr(module, name), f"{celery_module}.{name} -> {shim_module}.{name}"


CRONTABS = [
    {}, {"minute": 0, "hour": "*/3"}, {"minute": "*/15", "hour": "9-17", "day_of_week": "mon-fri"},
    {"minute": [0, 30]}, {"day_of_month": "1,15", "month_of_year": "jan-mar"}, {"minute": "5-50/10"},
    {"day_of_week": "sunday"}, {"hour": "0-23/6"}, {"day_of_week": "sat,sun"},
]


@pytest.mark.parametrize("fields", CRONTABS)
def test_crontab_fields_parse_as_celerys(fields):
    from celery.schedules import crontab as celery_crontab

    ours, theirs = crontab(**fields), celery_crontab(**fields)
    for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"):
        assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize("fields", [{"minute": 61}, {"hour": "25"}, {"day_of_week": "funday"}, {"month_of_year": 13},
                                    {"day_of_week": 7}, {"minute": "7/20"}])
def test_bad_crontab_patterns_raise_like_celery(fields):
    from celery.schedules import crontab as celery_crontab

    with pytest.raises(ValueError):
        celery_crontab(**fields)
    with pytest.raises(ValueError):
        crontab(**fields)
