"""Task states and results through a worker (threads pool, in-process) and in eager mode, on the
memory:// result backend: what AsyncResult, GroupResult and the canvas report."""

from __future__ import annotations

import functools
import re
import threading
import time
from datetime import datetime

import pytest

from cfq_shim import AsyncResult, chain, chord, group, states
from cfq_shim.exceptions import ChordError, Ignore, TimeoutError
from cfq_shim.result import GroupResult, allow_join_result
from cfq_shim.results.meta import RemoteTaskError


class CustomError(Exception):
    pass


@pytest.fixture
def app(make_app):
    return make_app("results", backend="memory://", cfq_queue_max_retries=5)


@pytest.fixture
def worker(start_worker):
    """conftest's start_worker, with 4 slots unless a test says otherwise."""
    return functools.partial(start_worker, concurrency=4)


def test_unknown_id_is_pending(app):
    result = app.AsyncResult("never-sent")
    assert (result.state, result.status, result.result, result.info) == ("PENDING", "PENDING", None, None)
    assert not result.ready() and not result.successful() and not result.failed()
    assert result.date_done is None and result.children == []


def test_success_state_value_and_date(app, worker):
    @app.task
    def add(x, y):
        return x + y

    worker()
    result = add.delay(2, 3)
    assert result.get(timeout=10) == 5
    assert result.state == states.SUCCESS and result.successful() and result.ready()
    assert isinstance(result.date_done, datetime) and result.traceback is None
    again = AsyncResult(result.id, app=app)  # a fresh handle reads the same record
    assert (again.status, again.result) == ("SUCCESS", 5)


def test_failure_reraises_the_original_type_with_traceback(app, worker):
    @app.task
    def fail():
        raise CustomError("broken", 7)

    worker()
    result = fail.delay()
    with pytest.raises(CustomError) as caught:
        result.get(timeout=10)
    assert caught.value.args == ("broken", 7)
    assert result.state == states.FAILURE and result.failed()
    assert "CustomError: ('broken', 7)" in result.traceback
    assert isinstance(result.get(propagate=False), CustomError)


def test_an_exception_type_that_cannot_be_imported_gets_a_clear_stand_in(app, worker):
    @app.task
    def fail():
        error_type = type("LocalOnlyError", (Exception,), {"__module__": "gone.module"})
        raise error_type("details")

    worker()
    with pytest.raises(RemoteTaskError, match=r"gone\.module\.LocalOnlyError: details \(the task raised .*cannot be imported here\)") as caught:
        fail.delay().get(timeout=10)
    assert type(caught.value).__name__ == "LocalOnlyError"


def test_started_state_with_track_started(app, worker):
    release = threading.Event()

    @app.task(track_started=True)
    def slow():
        release.wait(10)
        return "done"

    @app.task
    def untracked():
        release.wait(10)

    worker()
    tracked, plain = slow.delay(), untracked.delay()
    deadline = time.monotonic() + 10
    while tracked.state != states.STARTED and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tracked.state == states.STARTED and tracked.info["pid"] > 0
    assert plain.state == states.PENDING
    release.set()
    assert tracked.get(timeout=10) == "done"


def test_retry_state_carries_the_exception(app, worker):
    gate = threading.Event()

    @app.task(bind=True, max_retries=1)
    def flaky(self):
        if self.request.retries == 0:
            raise self.retry(exc=CustomError("try again"), countdown=1)
        gate.wait(10)
        return self.request.retries

    worker()
    result = flaky.delay()
    deadline = time.monotonic() + 10
    while result.state != states.RETRY and time.monotonic() < deadline:
        time.sleep(0.01)
    assert result.state == states.RETRY and isinstance(result.info, CustomError)
    gate.set()
    assert result.get(timeout=15) == 1


def test_custom_state_from_update_state(app, worker):
    go_on = threading.Event()

    @app.task(bind=True)
    def progress(self):
        self.update_state(state="PROGRESS", meta={"current": 3, "total": 10})
        go_on.wait(10)
        return "finished"

    worker()
    result = progress.delay()
    deadline = time.monotonic() + 10
    while result.state != "PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert result.state == "PROGRESS" and result.info == {"current": 3, "total": 10} and not result.ready()
    go_on.set()
    assert result.get(timeout=10) == "finished"


def test_get_times_out(app):
    with pytest.raises(TimeoutError, match="timed out"):
        app.AsyncResult("nothing-here").get(timeout=0.2, interval=0.05)


def test_get_inside_a_task_raises_unless_allowed(app, worker):
    @app.task
    def add(x, y):
        return x + y

    @app.task
    def waits():
        return add.delay(1, 1).get(timeout=10)

    @app.task
    def waits_allowed():
        with allow_join_result():
            return add.delay(1, 1).get(timeout=10)

    worker()
    with pytest.raises(RuntimeError, match="Never call result.get\\(\\) within a task"):
        waits.delay().get(timeout=10)
    assert waits_allowed.delay().get(timeout=10) == 2


def test_ignore_result_stores_nothing_but_errors_when_asked(app, worker):
    @app.task(ignore_result=True)
    def quiet():
        return 1

    @app.task(ignore_result=True, store_errors_even_if_ignored=True)
    def quiet_failure():
        raise CustomError("stored anyway")

    @app.task
    def add(x, y):
        return x + y

    worker(concurrency=1)  # one at a time, in order: once the marker is done, so is everything before it
    quiet_result = quiet.delay()
    failing = quiet_failure.delay()
    per_call = add.apply_async((1, 2), ignore_result=True)
    marker = add.delay(0, 0)
    marker.get(timeout=10)
    with pytest.raises(CustomError):
        failing.get(timeout=10)
    assert quiet_result.state == states.PENDING and per_call.state == states.PENDING


def test_app_wide_task_ignore_result(app, worker):
    app.conf.task_ignore_result = True

    @app.task
    def add(x, y):
        return x + y

    worker()
    result = add.delay(1, 1)
    with pytest.raises(TimeoutError):
        result.get(timeout=0.5)


def test_a_result_json_cannot_carry_is_a_failure_that_says_why(app, worker):
    @app.task
    def returns_object():
        return object()

    worker()
    result = returns_object.delay()
    with pytest.raises(TypeError, match="which JSON cannot carry") as caught:
        result.get(timeout=10)
    assert result.state == states.FAILURE and "UnencodableResult" in type(caught.value).__name__


def test_result_extended_stores_name_args_and_worker(app, worker):
    app.conf.result_extended = True

    @app.task
    def add(x, y):
        return x + y

    worker()
    result = add.apply_async((1,), {"y": 2})
    result.get(timeout=10)
    assert (result.name, result.args, result.kwargs, result.queue) == (add.name, [1], {"y": 2}, "celery")
    assert result.worker and result.retries == 0


def test_children_forget_and_collect(app, worker):
    @app.task
    def add(x, y):
        return x + y

    @app.task
    def spawn():
        return add.delay(2, 2).id

    worker()
    parent = spawn.delay()
    child_id = parent.get(timeout=10)
    assert [child.id for child in parent.children] == [child_id]
    collected = [(node.id, value) for node, value in parent.collect(timeout=10)]
    assert collected == [(parent.id, child_id), (child_id, 4)]
    parent.forget()
    assert app.AsyncResult(parent.id).state == states.PENDING


def test_group_result(app, worker):
    @app.task
    def add(x, y):
        return x + y

    @app.task
    def fail():
        raise CustomError("no")

    worker()
    result = group(add.s(i, i) for i in range(10))()
    assert result.get(timeout=10) == [i * 2 for i in range(10)]
    assert result.ready() and result.successful() and not result.failed() and result.completed_count() == 10
    assert result.join(timeout=10) == result.get()
    result.save()
    restored = GroupResult.restore(result.id, app=app)
    assert restored.id == result.id and [r.id for r in restored.results] == [r.id for r in result.results]
    assert restored.get(timeout=10) == [i * 2 for i in range(10)]
    mixed = group(add.s(1, 1), fail.s())()
    with pytest.raises(CustomError):
        mixed.get(timeout=10)
    assert mixed.failed() and not mixed.successful() and mixed.completed_count() == 1
    assert mixed.get(timeout=10, propagate=False)[0] == 2


def test_chain_flattening_and_groups_inside(app, worker):
    @app.task
    def add(x, y):
        return x + y

    @app.task
    def mul(x, y):
        return x * y

    @app.task
    def xsum(values):
        return sum(values)

    worker()
    result = chain(add.s(4, 4) | mul.s(8))()
    assert result.get(timeout=10) == 64 and result.parent.get(timeout=10) == 8
    nested = chain(chain(add.s(1, 1), add.s(1)), chain(add.s(1), mul.s(10)))()
    assert nested.get(timeout=10) == 40
    with_group = chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s())()
    assert with_group.get(timeout=10) == 7
    ending_in_group = chain(add.s(1, 1), group(add.s(10), add.s(20)))()
    assert isinstance(ending_in_group, GroupResult) and ending_in_group.get(timeout=10) == [12, 22]
    with_chord = chain(add.s(1, 1), chord([add.s(1), add.s(2)], xsum.s()), mul.s(2))()
    assert with_chord.get(timeout=10) == 14


def test_chord_and_its_failure(app, worker):
    failures = []

    @app.task
    def add(x, y):
        return x + y

    @app.task
    def xsum(values):
        return sum(values)

    @app.task
    def fail():
        raise CustomError("header broke")

    @app.task
    def on_error(task_id):
        failures.append(task_id)

    worker()
    assert chord(add.s(i, i) for i in range(20))(xsum.s()).get(timeout=10) == 380
    assert chord([], xsum.s())().get(timeout=10) == 0
    failing = chord([add.s(1, 1), fail.s()], xsum.s().on_error(on_error.s()))()
    # get() follows parents as Celery's does: the header's own error, or the chord's if that is seen first.
    with pytest.raises((CustomError, ChordError)):
        failing.get(timeout=10)
    body_error = failing.get(timeout=10, propagate=False)
    assert isinstance(body_error, ChordError) and failing.state == states.FAILURE
    assert re.fullmatch(r"Dependency \S+ raised CustomError\('header broke'\)", str(body_error))
    deadline = time.monotonic() + 10
    while not failures and time.monotonic() < deadline:
        time.sleep(0.01)
    assert failures == [failing.id]


def test_link_and_link_error_arguments(app, worker):
    calls = []

    @app.task
    def add(x, y):
        return x + y

    @app.task
    def fail():
        raise CustomError("x")

    @app.task
    def record(*args):
        calls.append(args)

    @app.task
    def errback(request, exc, traceback):
        calls.append(("errback", request.id, type(exc).__name__))

    worker()
    add.apply_async((1, 2), link=record.s("tag")).get(timeout=10)
    failing = fail.apply_async(link_error=errback.s())
    with pytest.raises(CustomError):
        failing.get(timeout=10)
    deadline = time.monotonic() + 10
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(calls, key=str) == sorted([(3, "tag"), ("errback", failing.id, "CustomError")], key=str)


def test_map_starmap_chunks_on_a_worker(app, worker):
    @app.task
    def mul(x, y):
        return x * y

    @app.task
    def double(x):
        return x * 2

    worker()
    assert mul.starmap([(2, 2), (3, 3)]).delay().get(timeout=10) == [4, 9]
    assert double.map([1, 2, 3]).delay().get(timeout=10) == [2, 4, 6]
    assert mul.chunks([(i, i) for i in range(5)], 2).delay().get(timeout=10) == [[0, 1], [4, 9], [16]]


def test_eager_mode_gives_the_same_states_and_results(app):
    app.conf.task_always_eager = True

    @app.task
    def add(x, y):
        return x + y

    @app.task
    def fail():
        raise CustomError("eager")

    @app.task
    def skipped():
        raise Ignore()

    @app.task
    def total(values):
        return sum(values)

    ok = add.delay(1, 2)
    assert (ok.state, ok.get(), ok.successful(), ok.ready()) == ("SUCCESS", 3, True, True)
    bad = fail.delay()
    assert bad.state == "FAILURE" and bad.failed() and isinstance(bad.result, CustomError)
    with pytest.raises(CustomError):
        bad.get()
    assert skipped.delay().state == states.IGNORED
    assert chain(add.s(4, 4) | add.s(8))().get() == 16
    assert chord([add.s(1, 1), add.s(2, 2)], total.s())().get() == 6
    assert group(add.s(1, 1), add.s(2, 2))().get() == [2, 4]
    assert add.starmap([(2, 2), (3, 3)]).delay().get() == [4, 6]


def test_a_hard_time_limit_is_stored_as_failure(app, worker):
    from cfq_shim.exceptions import TimeLimitExceeded

    @app.task(time_limit=0.3)
    def sleepy():
        time.sleep(1.5)

    worker()
    result = sleepy.delay()
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=10)
    assert result.state == states.FAILURE


def test_task_async_result_and_revoked_state(app, worker):
    from cfq_shim.exceptions import TaskRevokedError

    @app.task
    def add(x, y):
        return x + y

    worker()
    sent = add.delay(1, 1)
    assert add.AsyncResult(sent.id).get(timeout=10) == 2
    app.backend.mark_as_revoked("revoked-id", "revoked")  # what app.control.revoke records
    revoked = app.AsyncResult("revoked-id")
    assert revoked.state == states.REVOKED and revoked.ready() and not revoked.failed()
    with pytest.raises(TaskRevokedError):
        revoked.get(timeout=1)


def test_a_chord_claim_taken_again_after_a_crash_does_not_resend_a_body_that_ran(app):
    from cfq_shim.chords import chord_key, on_chord_part_return
    from cfq_shim.request import Context

    @app.task
    def xsum(values):
        return sum(values)

    # Given a chord of one header task whose worker claimed the chord and sent the body, which ran,
    # but died before completing the claim
    body = xsum.s()
    body.freeze(_id="body-id")
    app.backend.save_group("g1", GroupResult("g1", [AsyncResult("h1", app=app)], app=app))
    app.backend.store_result("h1", 3, states.SUCCESS)
    assert app.backend.store.claim_once(chord_key("g1"), "h1")
    app.backend.store_result("body-id", 3, states.SUCCESS)
    # When the header task is delivered again and finishes again
    request = Context(id="h1", group="g1", chord=dict(body), chord_size=1)
    on_chord_part_return(app.backend, request, states.SUCCESS, 3)
    # Then nothing is sent (the memory transport's queue was never even created) and the claim is done
    assert not app.backend.store.claim_once(chord_key("g1"), "h1")
    with pytest.raises(Exception, match="does not exist"):
        app.transport.peek("celery", batch_size=10)
