"""Eager mode: task_always_eager and task_eager_propagates as in Celery 5.7."""

from __future__ import annotations

import pytest

from cfq_shim import states
from cfq_shim.exceptions import Retry


@pytest.fixture
def app(make_app):
    return make_app("eager", task_always_eager=True)


def test_delay_runs_here_and_sends_nothing(app):
    @app.task(bind=True)
    def job(self, x):
        return (x, self.request.is_eager, self.request.called_directly)

    result = job.apply_async((1,), countdown=60, queue="elsewhere")
    assert result.get() == (1, True, False) and result.state == states.SUCCESS and result.successful()
    assert app._transport is None  # the broker was never opened


def test_failure_is_stored_and_raised_by_get(app):
    @app.task
    def boom():
        raise KeyError("k")

    result = boom.delay()
    assert result.state == states.FAILURE and result.failed() and isinstance(result.result, KeyError)
    assert "KeyError" in result.traceback
    with pytest.raises(KeyError):
        result.get()
    assert isinstance(result.get(propagate=False), KeyError)


def test_eager_propagates_raises_at_delay(app):
    app.conf.task_eager_propagates = True

    @app.task
    def boom():
        raise KeyError("k")

    with pytest.raises(KeyError):
        boom.delay()


def test_retries_run_again_in_process(app):
    runs = []

    @app.task(bind=True, max_retries=5, default_retry_delay=60)
    def flaky(self):
        runs.append(self.request.retries)
        if self.request.retries < 3:
            raise self.retry()
        return "done"

    assert flaky.delay().get() == "done" and runs == [0, 1, 2, 3]


def test_retry_throw_false_returns_the_retry(app):
    @app.task(bind=True)
    def soft(self):
        retry = self.retry(throw=False, countdown=1)
        return isinstance(retry, Retry)

    assert soft.delay().get() is True


def test_nested_calls_get_parent_and_root(app):
    @app.task(bind=True)
    def outer(self):
        return inner.delay().get(), self.request.id

    @app.task(bind=True)
    def inner(self):
        return self.request.parent_id, self.request.root_id

    (parent_id, root_id), outer_id = outer.delay().get()
    assert parent_id == outer_id and root_id == outer_id


def test_current_task_inside_and_outside(app):
    from cfq_shim import current_task

    @app.task
    def who():
        return current_task.name, app.current_task.request.id

    result = who.delay()
    assert result.get() == (who.name, result.id)
    assert app.current_task is None
