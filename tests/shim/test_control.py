"""``app.control`` through the shared store, with a worker in this process (threads pool, prefork where a test says) on ``memory://``
and on the embedded store: revoke before running, heartbeats, inspect() and ping() replies, commands."""

from __future__ import annotations

import json
import threading
import time

import pytest

from cfq_shim import Celery, signals, states
from cfq_shim.control.heartbeat import all_workers, is_task_running
from cfq_shim.control.store import ControlUnavailable, control_store
from cfq_shim.exceptions import FeatureNotAvailable

#: Celery 5.7's Request.info() keys (measured: tests/shim/fidelity/test_control_fidelity.py).
REQUEST_KEYS = {"id", "name", "args", "kwargs", "type", "hostname", "time_start", "acknowledged",
                "delivery_info", "worker_pid"}


def wait_until(predicate, timeout_seconds=15.0, what="condition"):
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in time")
        time.sleep(0.01)


@pytest.fixture(params=["memory", "sqlite"])
def app(request, tmp_path, make_app):
    broker = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/q.sqlite3"
    return make_app("ctl", broker=broker, cfq_worker_heartbeat_seconds=0.1)


@pytest.fixture
def start(start_worker):
    """conftest's start_worker (threads pool, 2 slots, a short idle back-off), under this file's name."""
    return start_worker


def test_a_revoked_task_never_runs_and_is_acked(app, start):
    ran, revoked = [], []

    @app.task
    def job(n):
        ran.append(n)

    def on_revoked(sender=None, request=None, terminated=None, expired=None, **kwargs):
        revoked.append((request.id, terminated, expired))

    signals.task_revoked.connect(on_revoked)
    try:
        skipped = job.apply_async((1,), countdown=2)
        job.delay(2)
        app.control.revoke(skipped.id)
        worker = start()
        wait_until(lambda: ran == [2], what="the other task ran")
        worker.drain(15)  # the ETA passes: the revoked task comes by, and is acked without running
    finally:
        signals.task_revoked.disconnect(on_revoked)
    assert ran == [2]
    assert revoked == [(skipped.id, False, False)]
    (recent,) = [r for r in worker.tracker.recent() if r["id"] == skipped.id]
    assert recent["state"] == states.REVOKED
    stats = app.transport.stats("celery")
    assert (stats.ready, stats.delayed, stats.in_flight, stats.dead_letters) == (0, 0, 0, 0)


@pytest.mark.slow  # several seconds of real processes: CI's slow run has it
@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_task_revoked_while_it_waits_in_the_worker_for_its_rate_limit_token_never_runs(app, start, pool, tmp_path):
    # The other pools check before a task starts; prefork checks before a hand-off (a child cannot
    # see revokes). The second call waits ~5 s in the worker for its token; it is revoked meanwhile.
    marks = tmp_path / "ran.txt"

    @app.task(rate_limit="12/m")
    def mark(n):
        with open(marks, "a") as f:  # a file: a prefork child's lists are not this process's
            f.write(f"{n}\n")

    first, second = mark.delay(1), mark.delay(2)
    worker = start(pool=pool, concurrency=1)
    wait_until(lambda: marks.exists() and marks.read_text() == "1\n", what="the first call ran")
    app.control.revoke(second.id)
    worker.drain(30)
    assert marks.read_text() == "1\n"
    (recent,) = [r for r in worker.tracker.recent() if r["id"] == second.id]
    assert recent["state"] == states.REVOKED
    stats = app.transport.stats("celery")
    assert (stats.ready, stats.delayed, stats.in_flight, stats.dead_letters) == (0, 0, 0, 0)


def test_revoking_an_empty_list_or_none_is_a_no_op(app):
    assert app.control.revoke([]) is None
    assert app.control.revoke(None) is None
    assert control_store(app).revoked_ids() == set()


def test_async_result_revoke_records_the_id(app):
    @app.task
    def job():
        pass

    result = job.delay()
    result.revoke()
    app.control.revoke([result.id, "other"])
    assert control_store(app).revoked_ids() == {result.id, "other"}
    assert app.control.inspect().revoked() is None  # no live worker: Celery answers None too


def test_inspect_active_lists_a_running_task_with_its_args(app, start):
    release = threading.Event()

    @app.task
    def hold(x, label=None):
        release.wait(20)

    result = hold.delay(7, label="seven")
    worker = start()
    try:
        active = wait_until(lambda: (app.control.inspect().active() or {}).get(worker.hostname), what="active")
        (request,) = active
        assert set(request) == REQUEST_KEYS
        assert (request["id"], request["name"], request["args"], request["kwargs"]) == (
            result.id, hold.name, [7], {"label": "seven"})
        assert request["hostname"] == worker.hostname and request["delivery_info"]["routing_key"] == "celery"
        assert isinstance(request["time_start"], float) and request["worker_pid"]
        assert is_task_running(control_store(app), result.id)
        assert app.control.inspect().query_task(result.id) == {worker.hostname: {result.id: ["active", request]}}
    finally:
        release.set()
    wait_until(lambda: not is_task_running(control_store(app), result.id), what="finished")


def test_ping_stats_registered_and_queues_answer_in_celerys_shapes(app, start):
    @app.task(rate_limit="10/m")
    def limited():
        pass

    @app.task
    def plain():
        pass

    assert app.control.ping() == [] and app.control.inspect().ping() is None
    worker = start()
    name = worker.hostname
    assert app.control.ping() == [{name: {"ok": "pong"}}]
    inspect = app.control.inspect()
    assert inspect.ping() == {name: {"ok": "pong"}}
    # (shared tasks other test modules defined join every app; only this module's are compared)
    registered = [n for n in inspect.registered()[name] if n.startswith(__name__ + ".")]
    assert registered == sorted([f"{limited.name} [rate_limit=10/m]", plain.name])
    assert inspect.scheduled() == {name: []} and inspect.reserved() == {name: []}
    (queue,) = inspect.active_queues()[name]
    assert queue["name"] == "celery" and queue["exchange"]["type"] == "direct"
    plain.delay()
    worker.drain(10)
    stats = wait_until(lambda: (inspect.stats() or {}).get(name, {}).get("total"), what="stats") and inspect.stats()[name]
    assert stats["total"] == {plain.name: 1}
    assert {"total", "pid", "clock", "uptime", "pool", "broker", "prefetch_count", "rusage"} <= set(stats)
    assert stats["pool"]["max-concurrency"] == 2
    # Narrowed by destination (a list, as kombu insists); nobody there answers None.
    assert app.control.inspect(destination=[name]).ping() == {name: {"ok": "pong"}}
    with pytest.raises(ValueError, match="destination must be a list/tuple"):
        app.control.inspect(destination=name).ping()
    assert app.control.inspect(destination=["nobody@nowhere"]).ping() is None
    assert app.control.ping(destination=["nobody@nowhere"]) == []


def test_a_worker_that_stops_leaves_every_answer_at_once(app, start):
    worker = start()
    assert app.control.ping() == [{worker.hostname: {"ok": "pong"}}]
    worker.stop()
    assert app.control.ping() == [] and app.control.inspect().active() is None


def test_commands_carried_through_the_store_reply_like_celery(app, start):
    @app.task
    def job():
        pass

    worker = start()
    name = worker.hostname
    replies = app.control.rate_limit(job.name, "5/s", reply=True, timeout=10)
    assert replies == [{name: {"ok": f"new rate limit set successfully for {job.name}"}}]
    assert job.rate_limit == "5/s"
    replies = app.control.time_limit(job.name, soft=10, hard=20, reply=True, timeout=10)
    assert replies == [{name: {"ok": f"time limits set successfully for {job.name}"}}]
    assert (job.soft_time_limit, job.time_limit) == (10, 20)
    assert app.control.add_consumer("extra", reply=True, timeout=10) == [{name: {"ok": "add consumer extra"}}]
    assert worker.queues == ["celery", "extra"]
    assert app.control.inspect().active_queues()[name][1]["name"] == "extra"
    app.send_task(job.name, queue="extra")
    worker.drain(10)
    assert app.transport.stats("extra").ready == 0
    assert app.control.cancel_consumer("extra", reply=True, timeout=10) == [
        {name: {"ok": "no longer consuming from extra"}}]
    assert app.control.cancel_consumer("celery", reply=True, timeout=10) == [
        {name: {"error": "not consuming from celery, or it is the last queue"}}]
    assert app.control.rate_limit(job.name, "5/s") is None  # without reply=True, Celery returns None


def test_shutdown_through_the_store_stops_the_worker(app, start):
    worker = start()
    app.control.shutdown()
    wait_until(lambda: worker.exit_code is not None, what="the worker stopped")
    assert worker.exit_code == 0
    assert app.control.ping() == []


def test_terminate_in_a_threads_pool_is_refused_in_the_reply_and_the_task_runs_on(app, start):
    release = threading.Event()
    done = []

    @app.task
    def hold():
        release.wait(20)
        done.append(1)

    result = hold.delay()
    worker = start()
    wait_until(lambda: is_task_running(control_store(app), result.id), what="running")
    replies = app.control.revoke(result.id, terminate=True, reply=True, timeout=10)
    assert replies == [{worker.hostname: {"ok": "terminate: none of the tasks is running here"}}] or replies == []
    release.set()
    worker.drain(10)
    assert done == [1]


def test_calls_that_need_a_broadcast_channel_name_themselves(app):
    with pytest.raises(FeatureNotAvailable, match=r"app\.control\.pool_restart\(\)"):
        app.control.pool_restart()
    with pytest.raises(FeatureNotAvailable, match="revoke_by_stamped_headers"):
        app.control.revoke_by_stamped_headers({"x": "1"})
    with pytest.raises(ValueError, match="unknown signal 'SIGNOPE'"):
        app.control.revoke("x", terminate=True, signal="SIGNOPE")


def test_cloudflare_without_a_result_backend_says_what_to_set():
    app = Celery("cf", broker="cloudflare://" + "f" * 32)
    with pytest.raises(ControlUnavailable, match="Set result_backend"):
        app.control.ping()


def test_stale_heartbeats_count_as_gone(app):
    store = control_store(app)
    store.heartbeat("celery@old", {"interval": 0.1, "active": [{"id": "t1"}]})
    assert is_task_running(store, "t1") and app.control.ping() == [{"celery@old": {"ok": "pong"}}]
    time.sleep(1.5)  # stale after 3 intervals + 1 s
    assert not is_task_running(store, "t1") and app.control.ping() == []
    assert all_workers(store)["celery@old"]["alive"] is False


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # the CLI loads its own app: they share the file
def test_cli_status_inspect_and_control_mirror_celerys(app, start, tmp_path, monkeypatch):
    import sys
    import textwrap

    from click.testing import CliRunner

    from cfq_shim.cli import main

    module = f"ctlcli_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(f"""
        from cfq_shim import Celery
        app = Celery("ctl", broker="{app.broker_url}", cfq_worker_heartbeat_seconds=0.1)

        @app.task
        def job(n):
            return n
    """))
    monkeypatch.syspath_prepend(str(tmp_path))

    def run(*args):
        return CliRunner().invoke(main, ["-A", module, *args], catch_exceptions=False)

    nobody = run("status")
    assert nobody.exit_code == 69 and "No nodes replied within time constraint" in nobody.output
    worker = start()
    status = run("status")
    assert status.exit_code == 0 and status.output.splitlines()[0] == f"->  {worker.hostname}: OK"
    assert "1 node online." in status.output
    active = run("inspect", "active")
    assert active.output.splitlines() == [f"->  {worker.hostname}: OK", "    - empty -"]
    registered = json.loads(run("inspect", "registered", "--json").output)
    assert list(registered) == [worker.hostname] and isinstance(registered[worker.hostname], list)
    assert "celery" in json.loads(run("inspect", "active_queues", "-j").output)[worker.hostname][0]["name"]
    stats = json.loads(run("inspect", "stats", "--json").output)[worker.hostname]
    assert stats["pool"]["max-concurrency"] == 2
    revoked = run("control", "revoke", "id-1", "id-2")
    assert revoked.exit_code == 0 and "tasks id-1, id-2 flagged as revoked" in revoked.output
    assert control_store(app).revoked_ids() == {"id-1", "id-2"}
    figures = run("inspect")  # no sub-command: the queue figures, as before
    assert figures.exit_code == 0 and figures.output.split()[:2] == ["queue", "ready"]
    sys.modules.pop(module, None)
