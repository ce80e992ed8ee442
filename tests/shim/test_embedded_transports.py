"""``sqlite://`` and ``memory://``: URLs, files, and the name->id layer."""

from __future__ import annotations

import os

import pytest

from cfq_shim.transport import open_transport
from cfq_shim.transport.base import QueueNotFound, UnsupportedBrokerURL
from cfq_shim.transport.memory import MemoryTransport
from cfq_shim.transport.sqlite import SQLiteTransport, path_from_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///queues.sqlite3", "queues.sqlite3"),
        ("sqlite:///.cfq-shim/queues.sqlite3", ".cfq-shim/queues.sqlite3"),
        ("sqlite:////var/lib/app/q.db", "/var/lib/app/q.db"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
def test_sqlite_urls_name_relative_and_absolute_paths(url, path):
    assert path_from_url(url) == path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://host/q.db", "sqlite:///dir/"])
def test_sqlite_urls_without_a_file_are_refused_with_the_expected_form(url):
    with pytest.raises(UnsupportedBrokerURL, match="sqlite:///"):
        path_from_url(url)


def test_open_transport_creates_the_parent_directory_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    transport = open_transport("sqlite:///nested/dir/queues.sqlite3")
    try:
        assert isinstance(transport, SQLiteTransport)
        assert transport.auto_declare_queues is True
        transport.declare_queue("q")
        transport.send("q", "x")
    finally:
        transport.close()
    assert os.path.isfile(tmp_path / "nested" / "dir" / "queues.sqlite3")


def test_open_transport_memory():
    transport = open_transport("memory://")
    try:
        assert isinstance(transport, MemoryTransport)
        assert transport.auto_declare_queues is True
    finally:
        transport.close()


@pytest.mark.parametrize("url", ["memory://somewhere", "memory:///path"])
def test_memory_urls_with_a_location_are_refused(url):
    with pytest.raises(UnsupportedBrokerURL, match="memory://"):
        MemoryTransport.from_url(url)


def test_a_queue_recreated_by_another_process_is_found_again(tmp_path):
    path = str(tmp_path / "q.sqlite3")
    producer, admin = SQLiteTransport(path), SQLiteTransport(path)
    try:
        producer.declare_queue("q")
        producer.send("q", "before")  # caches the queue id
        admin.delete_queue("q")
        admin.declare_queue("q")  # same name, new id
        producer.send("q", "after")
        assert [m.body for m in admin.pull("q", batch_size=10, visibility_timeout_ms=1_000)] == ["after"]
        admin.delete_queue("q")
        with pytest.raises(QueueNotFound, match="'q'"):
            producer.send("q", "gone")
    finally:
        producer.close()
        admin.close()


def test_declaring_a_dead_letter_queue_creates_it(tmp_path):
    from cfq_shim.transport.base import QueueSettings

    transport = MemoryTransport()
    try:
        transport.declare_queue("work", QueueSettings(dead_letter_queue="work-dlq"))
        assert sorted(transport.queue_names()) == ["work", "work-dlq"]
    finally:
        transport.close()


def test_a_closed_transport_refuses_work():
    transport = MemoryTransport()
    transport.declare_queue("q")
    transport.close()
    with pytest.raises(RuntimeError, match="closed"):
        transport.send("q", "x")


def test_the_producer_chunks_batches_by_the_stores_byte_rule():
    from cfq_shim.sending.producer import Producer

    transport = MemoryTransport()
    try:
        limits = transport.limits
        # 100 bodies that fit the byte limit on their own, but not once metadata is counted.
        body = "x" * (limits.max_batch_bytes // limits.max_batch_messages)
        Producer(transport, limits=limits).send_many([("q", body, 0)] * limits.max_batch_messages)
        assert transport.stats("q").ready == limits.max_batch_messages
    finally:
        transport.close()
