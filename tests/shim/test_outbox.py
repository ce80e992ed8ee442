"""The outbox (sending/outbox.py), its forwarder and producer, on the embedded store."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest

from cfq_shim import Celery
from cfq_shim.sending.forwarder import Forwarder
from cfq_shim.sending.outbox import Outbox, OutboxFull
from cfq_shim.sending.outbox_producer import OutboxProducer
from cfq_shim.sending.producer import Producer
from cfq_shim.transport.base import TransportError
from cfq_shim.transport.sqlite import SQLiteTransport

DEST = "sqlite:///dest"
WAIT_SECONDS = 30  # safety net only


def _items(count: int, queue: str = "q", start: int = 0) -> list[tuple[str, str, int, int]]:
    return [(queue, f"m{n}", 0, 200) for n in range(start, start + count)]


def _claim(outbox: Outbox, owner: str, **kwargs):
    options = {"max_messages": 100, "max_bytes": 256_000, **kwargs}
    return outbox.claim(DEST, owner, **options)


def test_claims_are_oldest_first_disjoint_and_deleted_once_pushed(tmp_path):
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    outbox.add(DEST, _items(250))
    first = _claim(outbox, f"{os.getpid()}:a")
    second = _claim(outbox, f"{os.getpid()}:b")
    assert [m.body for m in first.messages] == [f"m{n}" for n in range(100)]
    assert [m.body for m in second.messages] == [f"m{n}" for n in range(100, 200)]
    outbox.delete([m.seq for m in first.messages], destination=DEST)
    assert outbox.depth(DEST) == 150
    # Another destination's rows are never claimed.
    assert outbox.claim("cloudflare://other/", f"{os.getpid()}:c", max_messages=100, max_bytes=256_000) is None


def test_the_byte_limit_cuts_a_batch(tmp_path):
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    outbox.add(DEST, [("q", "x", 0, 100_000) for _ in range(5)])
    assert len(_claim(outbox, f"{os.getpid()}:a", max_bytes=256_000).messages) == 2


def test_a_dead_forwarders_claim_is_taken_over_at_once(tmp_path):
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    outbox.add(DEST, _items(10))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_owner = f"{int(gone.stdout)}:x"
    assert len(_claim(outbox, dead_owner).messages) == 10
    # A live owner's claim holds ...
    live = _claim(outbox, f"{os.getpid()}:live")
    assert live is not None  # the dead owner's 10 are free again: taken over, not waiting for the lease
    assert [m.body for m in live.messages] == [f"m{n}" for n in range(10)]
    assert _claim(outbox, f"{os.getpid()}:other") is None


def test_a_failed_batch_holds_back_the_younger_messages_of_its_queue(tmp_path):
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    outbox.add(DEST, _items(3, "q") + _items(2, "other", start=10))
    owner = f"{os.getpid()}:a"
    claimed = _claim(outbox, owner, max_messages=2)
    assert claimed.queue == "q"
    outbox.release([m.seq for m in claimed.messages], destination=DEST, backoff_ms=60_000, error="Overloaded: 429")
    # q's oldest is backing off: m2 must not overtake it; the other queue goes on.
    again = _claim(outbox, owner)
    assert again.queue == "other" and [m.body for m in again.messages] == ["m10", "m11"]
    assert _claim(outbox, owner) is None
    stats = outbox.stats(DEST)
    assert stats.depth == 5 and stats.by_queue == {"q": 3, "other": 2} and stats.last_error == "Overloaded: 429"


def test_the_per_second_budget_is_shared_by_every_claim_of_the_file(tmp_path):
    for attempt in range(5):  # the budget is per wall-clock second: retry a run that straddled one
        path = str(tmp_path / f"outbox-{attempt}.sqlite3")
        outbox, other_process = Outbox(path), Outbox(path)
        outbox.add(DEST, _items(300))
        second = int(time.time())
        taken = len(_claim(outbox, f"{os.getpid()}:a", per_second=150).messages)
        taken += len(_claim(other_process, f"{os.getpid()}:b", per_second=150).messages)
        third = _claim(outbox, f"{os.getpid()}:c", per_second=150)
        if int(time.time()) == second:
            assert taken == 150 and third is None
            return
    pytest.fail("five runs each straddled a second")


def test_a_claim_gives_back_what_another_forwarder_left_no_budget_for_meanwhile(tmp_path, monkeypatch):
    """The per-second budget is read with the candidates and spent when the claim is counted: when
    another process spent it in between, the claim gives its rows back and takes what is left."""
    from cfq_shim.sending import outbox as module

    read_candidates = Outbox._candidates
    for attempt in range(5):  # the budget is per wall-clock second: retry a run that straddled one
        path = str(tmp_path / f"outbox-{attempt}.sqlite3")
        outbox, other_process = Outbox(path), Outbox(path)
        outbox.add(DEST, _items(300))
        second = int(time.time())
        raced = []

        def read_then_lose_the_budget(self, *args, **kwargs):
            candidates = read_candidates(self, *args, **kwargs)
            if self is outbox and not raced:  # another forwarder counts 120 claims of this second
                raced.append(other_process._db.execute(module._COUNT_CLAIMED, (DEST, "q", second, 120, 150)))
            return candidates

        monkeypatch.setattr(Outbox, "_candidates", read_then_lose_the_budget)
        mine = _claim(outbox, f"{os.getpid()}:mine", per_second=150)
        monkeypatch.setattr(Outbox, "_candidates", read_candidates)
        spent = _claim(outbox, f"{os.getpid()}:third", per_second=150)
        rest = _claim(outbox, f"{os.getpid()}:unlimited")
        if int(time.time()) == second:
            assert raced == [1]
            assert [m.body for m in mine.messages] == [f"m{n}" for n in range(30)]
            assert spent is None
            # The 100 rows first claimed were given back: the next claim starts right after mine.
            assert [m.body for m in rest.messages] == [f"m{n}" for n in range(30, 130)]
            return
    pytest.fail("five runs each straddled a second")


def test_a_full_outbox_refuses_with_the_cause_and_writes_nothing(tmp_path):
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"), max_messages=5)
    outbox.add(DEST, _items(4))
    with pytest.raises(OutboxFull) as caught:
        outbox.add(DEST, _items(2))
    assert "holds 4 messages, its limit (cfq_outbox_max_messages=5)" in str(caught.value)
    assert "is one running" in str(caught.value)  # no forwarder ever reported
    claimed = _claim(outbox, f"{os.getpid()}:a")
    outbox.release([m.seq for m in claimed.messages], destination=DEST, backoff_ms=0, error="TransportError: down")
    with pytest.raises(OutboxFull, match="last push error .*: TransportError: down"):
        outbox.add(DEST, _items(2))
    assert outbox.depth(DEST) == 4
    assert isinstance(caught.value, TransportError)
    # One .delay() at a time (its own single-statement path): the fifth fits, the sixth does not.
    outbox.add(DEST, _items(1, start=4))
    with pytest.raises(OutboxFull, match="holds 5 messages, its limit"):
        outbox.add(DEST, _items(1, start=5))
    assert outbox.depth(DEST) == 5


def test_the_depth_bound_of_each_delay_reads_the_ends_of_the_rowid_tree_not_the_table(tmp_path):
    """A full outbox (an outage) holds up to a million rows: no .delay() may scan them, nor the age of
    the oldest message that the forwarder checks every few seconds."""
    import sqlite3

    from cfq_shim.sending import outbox as module

    Outbox(str(tmp_path / "outbox.sqlite3")).close()
    conn = sqlite3.connect(str(tmp_path / "outbox.sqlite3"))
    try:
        for statement, params in ((module._DEPTH_BOUND, ()), (module._INSERT_ONE, ("d", "q", "b", 1, 0, 0, 10)),
                                  (module._OLDEST, ()), (module._OLDEST_OF_QUEUE, ("d", "q"))):
            plan = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
            assert not [step for step in plan if step.startswith("SCAN outbox") or "TEMP B-TREE" in step], plan
    finally:
        conn.close()


def test_a_claim_takes_only_the_rows_still_free_when_another_forwarder_took_some_meanwhile(tmp_path, monkeypatch):
    """The candidates are read without the write lock: rows another process claimed between that read
    and the claim's update stay with it; both claims are disjoint and cover what was there."""
    path = str(tmp_path / "outbox.sqlite3")
    outbox, other_process = Outbox(path), Outbox(path)
    outbox.add(DEST, _items(10))
    read_candidates = Outbox._candidates

    def read_then_lose_some(self, *args, **kwargs):
        candidates = read_candidates(self, *args, **kwargs)
        if self is outbox and candidates is not None:
            monkeypatch.setattr(Outbox, "_candidates", read_candidates)
            stolen = _claim(other_process, f"{os.getpid()}:other", max_messages=4)
            assert [m.body for m in stolen.messages] == ["m0", "m1", "m2", "m3"]
        return candidates

    monkeypatch.setattr(Outbox, "_candidates", read_then_lose_some)
    mine = _claim(outbox, f"{os.getpid()}:mine")
    assert [m.body for m in mine.messages] == [f"m{n}" for n in range(4, 10)]
    assert _claim(outbox, f"{os.getpid()}:third") is None


class FlakyProducer(Producer):
    """The durable producer over a real store, failing the first ``failures`` pushes as an outage would."""

    def __init__(self, transport, failures: int) -> None:
        super().__init__(transport)
        self.failures = failures
        self.pushes: list[int] = []

    def send_batch(self, queue, items):
        if self.failures:
            self.failures -= 1
            raise TransportError("cannot reach the Cloudflare API: injected outage")
        self.pushes.append(len(items))
        super().send_batch(queue, items)


def test_the_forwarder_keeps_everything_through_an_outage_and_warns_while_it_lags(tmp_path, caplog):
    transport = SQLiteTransport(str(tmp_path / "queues.sqlite3"))
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    outbox.add(transport.destination, _items(150, "celery"))
    producer = FlakyProducer(transport, failures=2)
    forwarder = Forwarder(outbox, producer, destination=transport.destination, lag_warning_seconds=0.001)
    forwarder._last_lag_check = -100.0  # check the lag on the first round
    time.sleep(0.01)  # older than the 1 ms lag threshold
    with caplog.at_level(logging.WARNING, logger="cfq_shim.outbox"):
        assert forwarder.forward_once(linger=False)  # fails: kept, backing off
    assert outbox.depth(transport.destination) == 150
    assert "Could not push 100 outbox message(s) to 'celery'" in caplog.text
    assert "The outbox" in caplog.text and "lags: 150 message(s) waiting" in caplog.text
    # Back-off passes; the next failure and then the recovery push everything, nothing twice.
    for _ in range(2):
        with outbox._db.write() as conn:  # the back-off has passed
            conn.execute("UPDATE outbox SET not_before_ms = 0")
        forwarder.forward_once(linger=False)
    assert forwarder.drain(WAIT_SECONDS) == 0
    assert sum(producer.pushes) == 150 and max(producer.pushes) <= 100
    assert transport.stats("celery").ready == 150
    assert outbox.stats(transport.destination).last_error is None  # a push succeeded since
    transport.close()


def _app(tmp_path, **conf) -> Celery:
    app = Celery("outboxapp", broker=f"sqlite:///{tmp_path / 'queues.sqlite3'}")
    app.conf.cfq_producer = "outbox"
    app.conf.cfq_outbox_path = str(tmp_path / "outbox.sqlite3")
    app.conf.update(**conf)
    return app


def test_delay_commits_to_the_outbox_and_the_in_process_forwarder_pushes_it(tmp_path):
    app = _app(tmp_path)

    @app.task
    def add(x, y):
        return x + y

    results = [add.delay(n, 1) for n in range(30)]
    assert isinstance(app.producer, OutboxProducer)
    app.producer.flush(WAIT_SECONDS)
    assert app.transport.stats("celery").ready == 30
    bodies = [m.body for m in app.transport.peek("celery", batch_size=30)]
    assert {r.id for r in results} == {__import__("json").loads(b)["id"] for b in bodies}
    app.close()


def test_external_mode_starts_no_forwarder_and_send_many_is_all_or_nothing(tmp_path):
    app = _app(tmp_path, cfq_outbox_forwarder="external")

    @app.task
    def echo(text):
        return text

    echo.delay("a")
    producer = app.producer
    assert producer.forwarder is None and producer.outbox.depth(producer.destination) == 1
    from cfq_shim.exceptions import EncodeError

    with pytest.raises(EncodeError):
        producer.send_many([("celery", "ok", 0), ("celery", "x" * 200_000, 0)])
    assert producer.outbox.depth(producer.destination) == 1
    app.close()


def test_an_unknown_producer_mode_setting_is_a_clear_error(tmp_path):
    from cfq_shim.exceptions import ImproperlyConfigured

    app = Celery("x", broker=f"sqlite:///{tmp_path / 'q.sqlite3'}")
    app.conf.cfq_producer = "fast"
    with pytest.raises(ImproperlyConfigured, match="cfq_producer='fast': use one of durable, buffered, outbox"):
        app.producer
    app.conf.cfq_producer = "buffered"
    with pytest.raises(ImproperlyConfigured, match="needs a transport that pushes over HTTP"):
        app.producer


def test_the_write_ahead_log_is_restarted_while_a_producer_never_pauses(tmp_path, monkeypatch):
    """Forwarders checkpoint after each push; a passive checkpoint never finishes while a producer keeps
    committing, so the log would only grow: past a bound a forwarder restarts it (here 100 pages instead
    of 4,096), and the log is seen shorter than before while the producer still commits."""
    import threading

    from cfq_shim.sending import outbox as module

    monkeypatch.setattr(module, "_RESTART_AT_PAGES", 100)
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    total, done = 6_000, threading.Event()

    def produce() -> None:
        for n in range(total):
            outbox.add(DEST, [("q", f"m{n}" + "x" * 300, 0, 400)])
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    pushed, logs_while_producing = 0, []
    while not done.is_set() or outbox.depth(DEST):
        claim = _claim(outbox, f"{os.getpid()}:fwd")
        if claim is None:
            time.sleep(0.001)
            continue
        outbox.delete([m.seq for m in claim.messages], destination=DEST)  # checkpoints
        pushed += len(claim.messages)
        if not done.is_set():
            logs_while_producing.append(outbox._db.checkpoint("PASSIVE")[1])
    producer.join()
    assert pushed == total
    # Without the restart the log only grows (two pages or more per commit: over 12,000 frames).
    assert any(later < earlier for earlier, later in zip(logs_while_producing, logs_while_producing[1:])), \
        logs_while_producing


def test_a_forwarder_checkpoints_passively_and_restarts_only_a_long_log(tmp_path, monkeypatch):
    from cfq_shim.embedded.connections import Connections
    from cfq_shim.sending import outbox as module

    monkeypatch.setattr(module, "_RESTART_AT_PAGES", 50)
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    calls = []
    checkpoint = Connections.checkpoint

    def recording(self, mode="PASSIVE", **options):
        calls.append((mode, options.get("wait_ms")))
        return checkpoint(self, mode, **options)

    monkeypatch.setattr(Connections, "checkpoint", recording)
    outbox.add(DEST, _items(5))
    outbox.checkpoint()
    assert calls == [("PASSIVE", None)]
    for n in range(60):  # one commit each: two pages or more of log each
        outbox.add(DEST, _items(1, start=n))
    calls.clear()
    outbox.checkpoint()
    assert calls == [("PASSIVE", None), ("RESTART", module._RESTART_WAIT_MS)]


def test_a_forked_child_forwards_although_the_parents_forwarder_was_mid_claim_at_fork(tmp_path, monkeypatch):
    """gunicorn --preload, multiprocessing: a producing process forks while one of its forwarder threads
    holds the outbox's claim lock. The child must not inherit that lock held (it would never claim)."""
    import threading

    app = _app(tmp_path)

    @app.task
    def add(x, y):
        return x + y

    parent = os.getpid()
    in_claim, release = threading.Event(), threading.Event()
    read_candidates = Outbox._candidates

    def held_in_the_parent(self, *args, **kwargs):
        if os.getpid() == parent and not release.is_set():
            in_claim.set()
            release.wait(WAIT_SECONDS)
        return read_candidates(self, *args, **kwargs)

    monkeypatch.setattr(Outbox, "_candidates", held_in_the_parent)
    add.delay(1, 1)  # starts the parent's forwarder, whose thread now waits inside a claim
    assert in_claim.wait(WAIT_SECONDS)
    pid = os.fork()
    if pid == 0:  # the child: sends and waits for its own forwarder to push
        code = 1
        try:
            add.delay(2, 2)
            app.producer.flush(5)
            code = 0
        except BaseException:  # noqa: BLE001
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    release.set()
    app.producer.flush(WAIT_SECONDS)
    assert os.waitstatus_to_exitcode(status) == 0
    assert app.transport.stats("celery").ready == 2
    app.close()


def test_app_close_pushes_what_is_left_before_it_closes_the_transport(tmp_path, monkeypatch, caplog):
    """A script that sends and then calls app.close(): the forwarder pushes what is left then (as it
    would at exit), not at exit through the transport app.close() has closed (10 s of errors, left)."""
    from cfq_shim.sending import outbox_producer

    monkeypatch.setattr(Forwarder, "start", lambda self: self)  # no pusher thread got to it yet
    app = _app(tmp_path)

    @app.task
    def add(x, y):
        return x + y

    for n in range(10):
        add.delay(n, 1)
    producer = app.producer
    forwarder = producer.forwarder
    app.close()
    with caplog.at_level(logging.WARNING, logger="cfq_shim.outbox"):
        monkeypatch.setattr(outbox_producer, "EXIT_DRAIN_SECONDS", 0.5)
        producer._drain_at_exit(forwarder)  # the exit handler registered by the first send
    assert producer.outbox.depth(producer.destination) == 0
    transport = SQLiteTransport(str(tmp_path / "queues.sqlite3"))
    assert transport.stats("celery").ready == 10
    assert caplog.text == ""
    transport.close()


def test_one_stuck_message_does_not_fill_the_outbox_while_the_others_flow(tmp_path):
    """The bound is checked against max(seq) - min(seq) + 1, which also counts the rows pushed since the
    oldest: one message stuck behind a missing queue (404, retried forever) while the other queues flow
    must not make every later .delay() raise OutboxFull."""
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"), max_messages=5)
    outbox.add(DEST, _items(1, "missing") + _items(1, "q"))
    claim = _claim(outbox, f"{os.getpid()}:fwd")
    assert claim.queue == "missing"
    outbox.release([m.seq for m in claim.messages], destination=DEST, backoff_ms=600_000,
                   error="QueueNotFound: no such queue")
    for n in range(10):  # a steady stream: the forwarder pushes all but the newest each round
        outbox.add(DEST, _items(1, "q", start=n))  # one .delay() at a time
        outbox.add(DEST, _items(2, "q", start=100 + 2 * n))  # send_many
        claim = _claim(outbox, f"{os.getpid()}:fwd", max_messages=3)
        outbox.delete([m.seq for m in claim.messages], destination=DEST)
    assert outbox.depth(DEST) == 2
    outbox.add(DEST, _items(3, "q"))
    with pytest.raises(OutboxFull, match="holds 5 messages, its limit"):  # the real depth, not the bound
        outbox.add(DEST, _items(1, "q"))


def test_the_last_error_is_reported_while_a_queue_still_fails_although_others_push(tmp_path, caplog):
    """inspect and the lag warning show the last push error "while pushes fail": a queue stuck on a 404
    keeps failing while the other queues push fine, and its error must not vanish behind their pushes."""
    transport = SQLiteTransport(str(tmp_path / "queues.sqlite3"))
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    outbox.add(transport.destination, _items(1, "missing") + _items(3, "celery"))

    class MissingQueue(Producer):
        def send_batch(self, queue, items):
            if queue == "missing":
                raise TransportError(f"Cloudflare queue {queue!r} does not exist: run provision -Q {queue}")
            super().send_batch(queue, items)

    forwarder = Forwarder(outbox, MissingQueue(transport), destination=transport.destination,
                          lag_warning_seconds=0.001)
    with caplog.at_level(logging.ERROR, logger="cfq_shim.outbox"):  # the retry's own warning aside
        assert forwarder.forward_once(linger=False)  # 'missing' fails and backs off
        assert forwarder.forward_once(linger=False)  # 'celery' is pushed
    stats = outbox.stats(transport.destination)
    assert stats.depth == 1 and stats.by_queue == {"missing": 1}
    assert stats.last_error == "TransportError: Cloudflare queue 'missing' does not exist: run provision -Q missing"
    forwarder._last_lag_check = forwarder._last_lag_warning = -100.0  # whatever the pushes above did
    with caplog.at_level(logging.WARNING, logger="cfq_shim.outbox"):
        forwarder._warn_if_lagging()
    assert "lags: 1 message(s) waiting" in caplog.text and "(last push error: TransportError: " in caplog.text
    transport.close()


def test_inspect_names_an_outbox_it_cannot_open_without_a_traceback(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cfq_shim.cli import main

    (tmp_path / "not-a-directory").write_text("")
    module = f"outboxinspect_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{module}.py").write_text(
        "from cfq_shim import Celery\n"
        f"app = Celery('proj', broker='sqlite:///{tmp_path}/q.sqlite3')\n"
        "app.conf.cfq_producer = 'outbox'\n"
        f"app.conf.cfq_outbox_path = '{tmp_path}/not-a-directory/outbox.sqlite3'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    try:
        result = CliRunner().invoke(main, ["-A", module, "inspect", "-Q", "celery"])
    finally:
        sys.modules.pop(module, None)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"Error: cannot open the outbox {tmp_path}/not-a-directory/outbox.sqlite3" in result.output
