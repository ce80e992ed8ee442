"""The embedded store's own API (by queue id), beyond what the transport contract covers."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cfq_shim.embedded import EmbeddedStore, QueueConfig
from cfq_shim.embedded.connections import SchemaTooNew
from cfq_shim.limits import DEFAULT_LIMITS, deliveries_allowed
from cfq_shim.transport.base import (
    BacklogFull,
    InvalidArgument,
    InvalidDelay,
    QueueAlreadyExists,
    QueueNotFound,
    QueuePaused,
    QueueSettings,
    RetryRequest,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path, clock):
    path = ":memory:" if request.param == "memory" else str(tmp_path / "store.sqlite3")
    with EmbeddedStore(path, now_ms=clock) as opened:
        yield opened


def is_hex_id(value: str) -> bool:
    return len(value) == 32 and int(value, 16) >= 0


# -- queues ---------------------------------------------------------------------------------------------
def test_created_queues_have_hex_ids_default_settings_and_are_listed(store):
    record = store.create_queue("emails")
    assert is_hex_id(record.queue_id)
    assert record.config == QueueConfig.defaults(DEFAULT_LIMITS)
    assert store.get_queue(record.queue_id).queue_name == "emails"
    assert store.queue_by_name("emails").queue_id == record.queue_id
    store.create_queue("alpha")
    assert [q.queue_name for q in store.list_queues()] == ["alpha", "emails"]


def test_creating_a_taken_name_raises(store):
    store.create_queue("emails")
    with pytest.raises(QueueAlreadyExists):
        store.create_queue("emails")


def test_ensure_queue_is_idempotent_and_applies_new_settings(store):
    first = store.ensure_queue("q")
    again = store.ensure_queue("q")
    assert again.queue_id == first.queue_id
    changed = store.ensure_queue("q", config=first.config.with_changes(max_retries=7))
    assert changed.queue_id == first.queue_id
    assert store.get_queue(first.queue_id).config.consumer.max_retries == 7


def test_stored_settings_stay_flat_json_and_files_written_before_the_consumer_type_still_read():
    # A settings row as stores wrote it before QueueConfig held a QueueSettings (plus a key from the future).
    older = ('{"batch_size": 7, "consumer_id": null, "dead_letter_queue": "q-dlq", "delivery_delay_seconds": 2, '
             '"delivery_paused": false, "max_retries": 4, "retention_seconds": 3600, "retry_delay_seconds": 9, '
             '"visibility_timeout_ms": 12000, "from_a_newer_version": 1}')
    config = QueueConfig.from_json(older)
    assert config.consumer == QueueSettings(max_retries=4, dead_letter_queue="q-dlq", retry_delay_seconds=9,
                                            visibility_timeout_ms=12_000, batch_size=7)
    assert (config.delivery_delay_seconds, config.retention_seconds) == (2, 3600)
    assert json.loads(config.to_json()) == {k: v for k, v in json.loads(older).items() if k != "from_a_newer_version"}


def test_deleting_a_queue_deletes_its_messages(store):
    queue_id = store.create_queue("q").queue_id
    store.push(queue_id, "x")
    store.delete_queue(queue_id)
    with pytest.raises(QueueNotFound):
        store.get_queue(queue_id)
    new_id = store.create_queue("q").queue_id
    assert new_id != queue_id
    assert store.pull(new_id, batch_size=10).messages == []


def test_unknown_ids_raise_queue_not_found_with_code(store):
    with pytest.raises(QueueNotFound) as raised:
        store.push("0" * 32, "x")
    assert raised.value.code == 10104
    with pytest.raises(QueueNotFound):
        store.queue_by_name("missing")


@pytest.mark.parametrize(
    "changes",
    [
        {"max_retries": DEFAULT_LIMITS.max_max_retries + 1},
        {"max_retries": -1},
        {"retention_seconds": DEFAULT_LIMITS.min_retention_seconds - 1},
        {"retention_seconds": DEFAULT_LIMITS.max_retention_seconds + 1},
        {"batch_size": 0},
        {"visibility_timeout_ms": DEFAULT_LIMITS.max_visibility_timeout_ms + 1},
        {"dead_letter_queue": "q"},
    ],
)
def test_settings_outside_the_limits_are_refused_and_nothing_changes(store, changes):
    record = store.create_queue("q")
    with pytest.raises(InvalidArgument):
        store.configure(record.queue_id, record.config.with_changes(**changes))
    assert store.get_queue(record.queue_id).config == record.config


def test_a_bad_retry_delay_setting_is_an_invalid_delay(store):
    record = store.create_queue("q")
    with pytest.raises(InvalidDelay):
        store.configure(record.queue_id, record.config.with_changes(retry_delay_seconds=-5))


# -- messages -------------------------------------------------------------------------------------------
def test_content_type_and_bytes_bodies_round_trip(store):
    queue_id = store.create_queue("q").queue_id
    store.push(queue_id, b"\x00\xffraw", content_type="bytes")
    store.push(queue_id, '{"a": 1}', content_type="json")
    pulled = {m.content_type: m.body for m in store.pull(queue_id, batch_size=10).messages}
    assert pulled == {"bytes": b"\x00\xffraw", "json": '{"a": 1}'}


def test_an_unknown_content_type_is_refused_with_10203(store):
    queue_id = store.create_queue("q").queue_id
    with pytest.raises(InvalidArgument) as raised:
        store.push(queue_id, "x", content_type="xml")
    assert raised.value.code == 10203


def test_push_returns_message_ids_that_pull_reports(store):
    queue_id = store.create_queue("q").queue_id
    ids = store.push_batch(queue_id, [("a", "text", 0), ("b", "text", 0)])
    assert all(is_hex_id(i) for i in ids)
    assert sorted(m.id for m in store.pull(queue_id, batch_size=10).messages) == sorted(ids)


def test_an_empty_batch_stores_nothing(store):
    queue_id = store.create_queue("q").queue_id
    assert store.push_batch(queue_id, []) == []
    assert store.stats(queue_id).backlog_count == 0


def test_pull_uses_the_consumer_settings_when_none_are_given(store, clock):
    record = store.create_queue("q")
    store.configure(record.queue_id, record.config.with_changes(batch_size=2, visibility_timeout_ms=5_000))
    store.push_batch(record.queue_id, [(f"m{i}", "text", 0) for i in range(5)])
    result = store.pull(record.queue_id)
    assert len(result.messages) == 2
    assert all(m.visible_at_ms == clock.now + 5_000 for m in result.messages)
    assert result.backlog_count == 5


def test_a_retry_without_a_delay_uses_the_consumer_retry_delay(store, clock):
    record = store.create_queue("q")
    store.configure(record.queue_id, record.config.with_changes(retry_delay_seconds=30))
    store.push(record.queue_id, "x")
    (message,) = store.pull(record.queue_id, batch_size=1).messages
    store.ack(record.queue_id, retries=[(message.lease_id, None)])
    clock.now += 29_999
    assert store.pull(record.queue_id, batch_size=1).messages == []
    clock.now += 1
    assert len(store.pull(record.queue_id, batch_size=1).messages) == 1


def test_the_same_lease_twice_in_one_call_counts_once(store):
    queue_id = store.create_queue("q").queue_id
    store.push(queue_id, "x")
    (message,) = store.pull(queue_id, batch_size=1).messages
    result = store.ack(queue_id, acks=[message.lease_id], retries=[RetryRequest(message.lease_id)])
    assert (result.ack_count, result.retry_count) == (1, 0)
    assert message.lease_id in result.warnings


def test_a_lease_cannot_be_settled_through_another_queue(store):
    first = store.create_queue("a").queue_id
    second = store.create_queue("b").queue_id
    store.push(first, "x")
    (message,) = store.pull(first, batch_size=1).messages
    assert store.ack(second, acks=[message.lease_id]).ack_count == 0
    assert store.ack(first, acks=[message.lease_id]).ack_count == 1


def test_a_retry_on_the_last_delivery_dead_letters_at_once_into_a_created_queue(store):
    record = store.create_queue("q")
    store.configure(record.queue_id, record.config.with_changes(max_retries=0, dead_letter_queue="q-dead"))
    message_id = store.push(record.queue_id, "poison")
    (message,) = store.pull(record.queue_id, batch_size=1).messages
    store.ack(record.queue_id, retries=[(message.lease_id, 3_600)])

    dead = store.queue_by_name("q-dead")  # created on demand, so nothing is lost
    (moved,) = store.pull(dead.queue_id, batch_size=10).messages
    assert (moved.id, moved.body, moved.attempts) == (message_id, "poison", 1)
    stats = store.stats(record.queue_id)
    assert (stats.backlog_count, stats.backlog_bytes, stats.dead_letters) == (0, 0, 1)


def test_lowering_max_retries_applies_to_messages_already_retried(store):
    record = store.create_queue("q")
    store.configure(record.queue_id, record.config.with_changes(max_retries=5))
    store.push(record.queue_id, "x")
    for _ in range(2):
        (message,) = store.pull(record.queue_id, batch_size=1).messages
        store.ack(record.queue_id, retries=[(message.lease_id, 0)])
    store.configure(record.queue_id, record.config.with_changes(max_retries=1))
    assert deliveries_allowed(1) == 2
    assert store.pull(record.queue_id, batch_size=1).messages == []
    assert store.stats(record.queue_id).backlog_count == 0


def test_paused_delivery_refuses_pulls_but_keeps_accepting_pushes(store):
    record = store.create_queue("q")
    store.configure(record.queue_id, record.config.with_changes(delivery_paused=True))
    store.push(record.queue_id, "waits")
    with pytest.raises(QueuePaused) as raised:
        store.pull(record.queue_id, batch_size=1)
    assert raised.value.code == 10252
    store.configure(record.queue_id, record.config.with_changes(delivery_paused=False))
    assert [m.body for m in store.pull(record.queue_id, batch_size=1).messages] == ["waits"]


def test_messages_past_retention_are_deleted_undelivered(store, clock):
    record = store.create_queue("q")
    retention = DEFAULT_LIMITS.min_retention_seconds
    store.configure(record.queue_id, record.config.with_changes(retention_seconds=retention))
    store.push(record.queue_id, "old")
    clock.now += retention * 1000 - 1
    store.push(record.queue_id, "young")
    clock.now += 1
    assert [m.body for m in store.peek(record.queue_id)] == ["young"]
    assert [m.body for m in store.pull(record.queue_id, batch_size=10).messages] == ["young"]
    assert store.stats(record.queue_id).backlog_count == 1


def test_a_full_backlog_refuses_pushes_with_10251_until_space_is_freed(tmp_path, clock):
    limits = DEFAULT_LIMITS.with_overrides(max_backlog_bytes=3 * (DEFAULT_LIMITS.message_metadata_bytes + 10))
    with EmbeddedStore(":memory:", limits=limits, now_ms=clock) as store:
        queue_id = store.create_queue("q").queue_id
        store.push_batch(queue_id, [("0123456789", "text", 0)] * 3)
        with pytest.raises(BacklogFull) as raised:
            store.push(queue_id, "x")
        assert raised.value.code == 10251
        assert store.stats(queue_id).backlog_count == 3
        (message,) = store.pull(queue_id, batch_size=1).messages
        store.ack(queue_id, acks=[message.lease_id])
        store.push(queue_id, "0123456789")
        assert store.stats(queue_id).backlog_bytes == limits.max_backlog_bytes


def test_the_queue_count_limit_is_enforced(clock):
    limits = DEFAULT_LIMITS.with_overrides(max_queues=2)
    with EmbeddedStore(":memory:", limits=limits, now_ms=clock) as store:
        store.create_queue("a")
        store.create_queue("b")
        with pytest.raises(InvalidArgument):
            store.create_queue("c")


def test_backlog_bytes_follow_pushes_acks_purges_and_dead_letters(store):
    limits = store.limits
    record = store.create_queue("q")
    store.push_batch(record.queue_id, [("ab", "text", 0), ("é", "text", 0)])
    assert store.stats(record.queue_id).backlog_bytes == 2 * limits.message_metadata_bytes + 2 + 2
    (first, second) = store.pull(record.queue_id, batch_size=2).messages
    store.ack(record.queue_id, acks=[first.lease_id])
    assert store.stats(record.queue_id).backlog_count == 1
    assert store.purge(record.queue_id) == 1
    stats = store.stats(record.queue_id)
    assert (stats.backlog_count, stats.backlog_bytes) == (0, 0)


# -- files ----------------------------------------------------------------------------------------------
def test_two_stores_on_one_file_share_queues_and_leases(tmp_path, clock):
    path = str(tmp_path / "shared.sqlite3")
    with EmbeddedStore(path, now_ms=clock) as one, EmbeddedStore(path, now_ms=clock) as two:
        queue_id = one.create_queue("q").queue_id
        one.push(queue_id, "x")
        (message,) = two.pull(queue_id, batch_size=10).messages
        assert one.pull(queue_id, batch_size=10).messages == []
        assert one.ack(queue_id, acks=[message.lease_id]).ack_count == 1


def test_the_file_is_in_wal_mode(tmp_path):
    path = str(tmp_path / "wal.sqlite3")
    EmbeddedStore(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_file_has_small_pages_and_an_old_file_keeps_its_own(tmp_path):
    new = str(tmp_path / "new.sqlite3")
    EmbeddedStore(new).close()
    with sqlite3.connect(new) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 2048
    # A file written before (SQLite's 4,096-byte pages, WAL) is read and written as it is.
    old = str(tmp_path / "old.sqlite3")
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    with EmbeddedStore(old) as store:
        queue_id = store.create_queue("q").queue_id
        store.push(queue_id, "hello")
        assert [m.body for m in store.pull(queue_id, batch_size=10).messages] == ["hello"]
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096


def test_a_file_from_a_newer_schema_is_refused_clearly(tmp_path):
    path = str(tmp_path / "future.sqlite3")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(SchemaTooNew, match="schema 99"):
        EmbeddedStore(path)


def test_in_memory_stores_are_private(clock):
    with EmbeddedStore(":memory:", now_ms=clock) as one, EmbeddedStore(":memory:", now_ms=clock) as two:
        one.create_queue("q")
        assert two.list_queues() == []


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_after_fork_a_file_store_reconnects_and_a_memory_store_refuses(tmp_path):
    import os

    file_store = EmbeddedStore(str(tmp_path / "forked.sqlite3"))
    memory_store = EmbeddedStore(":memory:")
    queue_id = file_store.create_queue("q").queue_id
    memory_store.create_queue("q")
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 0
        try:
            file_store.push(queue_id, "from the child")
        except BaseException:
            status |= 1
        try:
            memory_store.list_queues()
            status |= 2
        except RuntimeError:
            pass
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [m.body for m in file_store.pull(queue_id, batch_size=10).messages] == ["from the child"]
    file_store.close()
    memory_store.close()


def _acquired_from_another_thread(lock) -> bool:
    import threading

    got: list[bool] = []

    def probe() -> None:
        got.append(lock.acquire(blocking=False))
        if got[0]:
            lock.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(5)
    return got[0]


def test_threads_of_one_process_take_turns_at_writing_on_a_lock_of_their_own(tmp_path):
    """A second writing thread waits on the process's lock (handed over at once), not in SQLite's busy
    handler, and gets its turn as soon as the first transaction ends."""
    import threading

    store = EmbeddedStore(str(tmp_path / "turns.sqlite3"))
    queue_id = store.create_queue("q").queue_id
    order: list[str] = []
    second_waiting = threading.Event()

    def second_writer() -> None:
        second_waiting.set()
        store.push(queue_id, "second")
        order.append("second")

    with store._db.write() as conn:
        thread = threading.Thread(target=second_writer)
        thread.start()
        second_waiting.wait(5)
        thread.join(0.2)
        assert thread.is_alive()  # held back while this transaction is open...
        assert not _acquired_from_another_thread(store._db.write_lock)  # ...on the process's own lock
        conn.execute("UPDATE queues SET modified_on_ms = modified_on_ms WHERE queue_id = ?", (queue_id,))
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]
    assert _acquired_from_another_thread(store._db.write_lock)
    assert [m.body for m in store.pull(queue_id, batch_size=10).messages] == ["second"]
    store.close()


def test_stats_leave_out_messages_past_retention_without_pulling(store, clock):
    record = store.create_queue("q")
    retention = DEFAULT_LIMITS.min_retention_seconds
    store.configure(record.queue_id, record.config.with_changes(retention_seconds=retention))
    store.push(record.queue_id, "old")
    clock.now += retention * 1000
    store.push(record.queue_id, "young")
    stats = store.stats(record.queue_id)
    assert (stats.ready, stats.backlog_count) == (1, 1)


def test_empty_pulls_and_stats_do_not_need_the_write_lock(tmp_path):
    from cfq_shim.transport.base import Overloaded

    path = str(tmp_path / "locked.sqlite3")
    with EmbeddedStore(path, busy_timeout_ms=50) as store:
        queue_id = store.create_queue("q").queue_id
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            assert store.pull(queue_id, batch_size=10).messages == []
            assert store.stats(queue_id).backlog_count == 0
            with pytest.raises(Overloaded, match="stayed locked"):
                store.push(queue_id, "x")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        store.push(queue_id, "x")
        assert len(store.pull(queue_id, batch_size=10).messages) == 1


def test_connections_of_finished_threads_are_closed(tmp_path):
    import threading

    with EmbeddedStore(str(tmp_path / "threads.sqlite3")) as store:
        queue_id = store.create_queue("q").queue_id
        for _ in range(30):  # one short-lived thread per "request"
            thread = threading.Thread(target=store.push, args=(queue_id, "x"))
            thread.start()
            thread.join()
        assert store.stats(queue_id).backlog_count == 30
        open_connections = len(store._db._all)  # white-box: the leak this guards against is invisible otherwise
        assert open_connections <= 3


def test_a_push_without_a_delay_takes_the_queue_wide_delivery_delay(store, clock):
    record = store.create_queue("q")
    store.configure(record.queue_id, record.config.with_changes(delivery_delay_seconds=10))
    store.push_batch(record.queue_id, [("default", "text", None), ("explicit", "text", 0)])
    assert [m.body for m in store.pull(record.queue_id, batch_size=10).messages] == ["explicit"]
    clock.now += 10_000
    assert [m.body for m in store.pull(record.queue_id, batch_size=10).messages] == ["default"]


def test_a_delivery_delay_past_the_maximum_is_refused(store):
    record = store.create_queue("q")
    with pytest.raises(InvalidDelay):
        store.configure(
            record.queue_id, record.config.with_changes(delivery_delay_seconds=DEFAULT_LIMITS.max_delay_seconds + 1)
        )


def test_delete_messages_removes_only_the_named_ones_and_warns_for_unknown_ids():
    # Given a queue with three messages
    with EmbeddedStore(":memory:") as store:
        queue = store.create_queue("refs")
        ids = store.push_batch(queue.queue_id, [("a", "text", 0), ("b", "text", 0), ("c", "text", 0)])
        # When two of them (one twice) and an unknown id are deleted
        warnings = store.delete_messages(queue.queue_id, [ids[0], ids[2], ids[0], "f" * 32])
        # Then only the unknown id warns, and the third message is the only one left
        assert list(warnings) == ["f" * 32]
        assert [m.id for m in store.peek(queue.queue_id)] == [ids[1]]
        assert store.stats(queue.queue_id).backlog_count == 1
