"""Differential tests for results: the same task module under real Celery 5.7 (a worker thread on the
memory:// broker with a Redis result backend on a real redis-server) and under cfq_shim (a worker thread
on memory:// with the memory:// result backend). Both must report the same states to a poller, the same
get() values and exception types, the same group/chain/chord/starmap results, and call link and
link_error callbacks in the same order with the same arguments.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time

import pytest

from services import redis_server

DEADLINE_SECONDS = 30.0
#: Celery's AsyncResult unsubscribes from Redis in __del__; one collected after the module's redis-server
#: stopped warns from inside Celery. That is Celery's teardown, not a difference under test.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
_numbers = itertools.count()


class ProgressError(Exception):
    """A module-level exception type: importable, so both re-raise it as itself."""


def define(app, gates, calls):
    @app.task
    def add(x, y):
        return x + y

    @app.task
    def mul(x, y):
        return x * y

    @app.task
    def xsum(values):
        return sum(values)

    @app.task
    def fail_value():
        raise ValueError("bad value", 3)

    @app.task
    def fail_custom():
        raise ProgressError("custom")

    @app.task(bind=True, track_started=True)
    def progress(self, steps):
        for step in range(1, steps + 1):
            self.update_state(state="PROGRESS", meta={"current": step})
            gates[step].wait(DEADLINE_SECONDS)
        return "done"

    @app.task
    def record(*args):
        calls.append(("record", args))

    @app.task
    def errback_id(task_id):
        calls.append(("errback_id", task_id))

    @app.task
    def errback_details(request, exc, traceback):
        calls.append(("errback_details", request.id, type(exc).__name__, str(exc)))

    return {task.__name__: task for task in (add, mul, xsum, fail_value, fail_custom, progress, record, errback_id, errback_details)}


class Runtime:
    def __init__(self, name, app, tasks, canvas, gates, calls, exceptions):
        self.name, self.app, self.t, self.canvas = name, app, tasks, canvas
        self.gates, self.calls, self.exceptions = gates, calls, exceptions

    def wait_calls(self, count):
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: calls so far {self.calls}")
            time.sleep(0.01)
        time.sleep(0.2)  # nothing more should come
        return list(self.calls)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def celery_runtime(redis_url):
    import celery
    from celery.contrib.testing.worker import start_worker

    gates = {n: threading.Event() for n in range(1, 4)}
    calls: list = []
    app = celery.Celery(f"resfid{next(_numbers)}", set_as_current=False)
    app.conf.update(broker_url="memory://", result_backend=redis_url, worker_hijack_root_logger=False,
                    broker_connection_retry_on_startup=True, broker_transport_options={"polling_interval": 0.01})
    tasks = define(app, gates, calls)
    canvas = {"chain": celery.chain, "group": celery.group, "chord": celery.chord}
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="ERROR", shutdown_timeout=10):
        yield Runtime("celery", app, tasks, canvas, gates, calls, celery.exceptions)
    # Celery's Redis backend keeps every pending AsyncResult in backend._pending_results, and each one
    # unsubscribes from Redis when collected. Left there, they are collected whenever a later test happens
    # to run the garbage collector, after redis-server stopped: __del__ then retries for 20 s and raises
    # inside that test (CPython 3.11's ast.parse turns it into a SystemError). Forget them here instead.
    # The backend is per thread (the worker's threads have their own), so find each of this app's.
    from celery.backends.redis import RedisBackend

    # type(), not isinstance(): isinstance reads __class__, which a lazy proxy (Django's settings) resolves.
    for backend in [o for o in gc.get_objects() if issubclass(type(o), RedisBackend) and o.app is app]:
        backend.result_consumer.subscribed_to.clear()
        backend.result_consumer._pending_unsubscribe.clear()
        for mapping in backend._pending_results:
            mapping.clear()
    gc.collect()
    app.close()


@pytest.fixture(scope="module")
def shim_runtime():
    import cfq_shim
    from cfq_shim.worker import Worker

    gates = {n: threading.Event() for n in range(1, 4)}
    calls: list = []
    app = cfq_shim.Celery(f"resfid{next(_numbers)}", broker="memory://", backend="memory://", set_as_current=False)
    tasks = define(app, gates, calls)
    canvas = {"chain": cfq_shim.chain, "group": cfq_shim.group, "chord": cfq_shim.chord}
    worker = Worker(app, pool="threads", concurrency=4, max_idle_backoff_seconds=0.01).start()
    try:
        yield Runtime("shim", app, tasks, canvas, gates, calls, cfq_shim.exceptions)
    finally:
        worker.stop()
        app.close()


@pytest.fixture
def both(celery_runtime, shim_runtime):
    for runtime in (celery_runtime, shim_runtime):
        runtime.calls.clear()
        for gate in runtime.gates.values():
            gate.clear()
    return celery_runtime, shim_runtime


def _observe_progress(runtime):
    """States a poller sees while the task moves on one gate at a time."""
    result = runtime.t["progress"].delay(3)
    seen = [(runtime.app.AsyncResult("never-sent").state, None)]
    for step in range(1, 4):
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not (result.state == "PROGRESS" and result.info == {"current": step}):
            if time.monotonic() > deadline:
                raise AssertionError(f"{runtime.name}: stuck at {result.state} {result.info}")
            time.sleep(0.005)
        seen.append((result.state, dict(result.info)))
        runtime.gates[step].set()
    seen.append((result.get(timeout=DEADLINE_SECONDS), result.state))
    seen.append((result.ready(), result.successful(), result.failed()))
    return seen


def test_states_seen_by_a_poller(both):
    celery_side, shim_side = both
    assert _observe_progress(celery_side) == _observe_progress(shim_side)


def _outcomes(runtime):
    t = runtime.t
    out = [t["add"].delay(2, 3).get(timeout=DEADLINE_SECONDS)]
    for name in ("fail_value", "fail_custom"):
        result = t[name].delay()
        try:
            result.get(timeout=DEADLINE_SECONDS)
        except Exception as exc:  # noqa: BLE001
            out.append(("raised", type(exc).__name__, type(exc).__module__, exc.args))
        value = result.get(timeout=DEADLINE_SECONDS, propagate=False)
        out.append(("value", type(value).__name__, value.args, result.state, result.ready(),
                    result.successful(), result.failed(), "Traceback" in (result.traceback or "")))
    unknown = runtime.app.AsyncResult("nobody-sent-this")
    out.append((unknown.state, unknown.result, unknown.ready()))
    return out


def test_get_values_and_reraised_exception_types(both):
    celery_side, shim_side = both
    celery_out, shim_out = _outcomes(celery_side), _outcomes(shim_side)
    assert celery_out == shim_out
    assert ("raised", "ProgressError", __name__, ("custom",)) in shim_out


def _canvas(runtime):
    t, c = runtime.t, runtime.canvas
    group_result = c["group"](t["add"].s(i, i) for i in range(10))()
    values = group_result.get(timeout=DEADLINE_SECONDS)
    return [
        c["chain"](t["add"].s(4, 4) | t["mul"].s(8))().get(timeout=DEADLINE_SECONDS),
        values, group_result.completed_count(), group_result.ready(), group_result.successful(),
        c["chord"](t["add"].s(i, i) for i in range(10))(t["xsum"].s()).get(timeout=DEADLINE_SECONDS),
        c["chain"](t["add"].s(1, 1), c["group"](t["add"].s(1), t["add"].s(2)), t["xsum"].s())().get(timeout=DEADLINE_SECONDS),
        t["mul"].starmap([(2, 2), (3, 3)]).delay().get(timeout=DEADLINE_SECONDS),
        t["add"].chunks([(i, i) for i in range(5)], 2).delay().get(timeout=DEADLINE_SECONDS),
        c["chain"](c["chain"](t["add"].s(1, 2), t["mul"].s(10)), c["chain"](t["add"].s(5), t["mul"].s(2)))().get(timeout=DEADLINE_SECONDS),
    ]


def test_group_chain_chord_and_map_results(both):
    celery_side, shim_side = both
    assert _canvas(celery_side) == _canvas(shim_side)


def _links(runtime):
    t = runtime.t
    t["add"].apply_async((1, 2), link=[t["record"].s("first"), t["record"].s("second")]).get(timeout=DEADLINE_SECONDS)
    ok_calls = runtime.wait_calls(2)
    runtime.calls.clear()
    failing = t["fail_value"].apply_async(link_error=[t["errback_details"].s(), t["errback_id"].s()])
    with pytest.raises(ValueError):
        failing.get(timeout=DEADLINE_SECONDS)
    error_calls = runtime.wait_calls(2)
    normalise = [tuple("<id>" if item == failing.id else item for item in call) for call in error_calls]
    return ok_calls, normalise


def test_link_and_link_error_order_and_arguments(both):
    celery_side, shim_side = both
    celery_links, shim_links = _links(celery_side), _links(shim_side)
    assert celery_links[0] == shim_links[0]
    # errback_details runs in the worker at once; errback_id is sent as a task: compare as sets of
    # calls, and check the in-place one comes first on both.
    assert sorted(celery_links[1]) == sorted(shim_links[1])
    assert celery_links[1][0][0] == shim_links[1][0][0] == "errback_details"
