"""Choosing a result backend by URL: supported schemes open, others fail naming the choices, and no
message or repr ever carries the URL's credentials."""

from __future__ import annotations

import pytest

from cfq_shim.results import SUPPORTED_SCHEMES, UnsupportedResultBackend, describe_url, open_backend
from cfq_shim.results.sqlite import MemoryResultBackend, SQLiteResultBackend


def test_sqlite_url_opens_a_file_backend(tmp_path) -> None:
    backend = open_backend(f"sqlite:///{tmp_path}/r/results.db")
    assert isinstance(backend, SQLiteResultBackend)
    assert (tmp_path / "r" / "results.db").exists()
    backend.close()


def test_memory_url() -> None:
    assert isinstance(open_backend("memory://"), MemoryResultBackend)
    with pytest.raises(UnsupportedResultBackend):
        open_backend("memory://somewhere/else")


@pytest.mark.parametrize("url", [
    "rpc://", "amqp://guest:s3cret@rabbit:5672//", "cache+memcached://127.0.0.1:11211/",
    "mongodb://admin:s3cret@mongo:27017/db", "cassandra://", "s3://bucket", "nonsense",
])
def test_unsupported_backends_name_the_supported_schemes(url: str) -> None:
    with pytest.raises(UnsupportedResultBackend) as caught:
        open_backend(url)
    message = str(caught.value)
    assert "not supported" in message and SUPPORTED_SCHEMES in message
    assert "s3cret" not in message and "guest" not in message and "admin" not in message


def test_sqlite_url_needs_a_path() -> None:
    with pytest.raises(UnsupportedResultBackend, match="needs a file path"):
        open_backend("sqlite://")
    with pytest.raises(UnsupportedResultBackend, match="no host"):
        open_backend("sqlite://host/results.db")


def test_describe_url_drops_credentials() -> None:
    assert describe_url("redis://:hunter2@cache.internal:6380/1") == "redis://cache.internal:6380/…"
    assert "hunter2" not in describe_url("db+postgresql://app:hunter2@db/app")
