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


def test_redis_errors_and_repr_never_show_the_password() -> None:
    from cfq_shim.results import ResultBackendError
    from services import free_port

    backend = open_backend(f"redis://:hunter2@127.0.0.1:{free_port()}/0")  # nothing listens there
    assert "hunter2" not in repr(backend)
    with pytest.raises(ResultBackendError) as caught:
        backend.get_meta("x")
    assert "hunter2" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_db_urls_on_unsupported_databases_say_which_are_supported() -> None:
    with pytest.raises(UnsupportedResultBackend, match=r"'mysql' is not supported: use db\+postgresql") as caught:
        open_backend("db+mysql://root:hunter2@127.0.0.1/app")
    assert "hunter2" not in str(caught.value)


def test_db_postgres_errors_never_show_the_password(tmp_path) -> None:
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    from cfq_shim.results import ResultBackendError
    from services import free_port

    with pytest.raises(ResultBackendError) as caught:
        open_backend(f"db+postgresql://app:hunter2@127.0.0.1:{free_port()}/app")
    assert "hunter2" not in str(caught.value) and "db+postgresql://127.0.0.1" in str(caught.value)


def test_an_app_with_an_unsupported_backend_fails_when_the_worker_starts() -> None:
    from cfq_shim import Celery
    from cfq_shim.worker import Worker

    app = Celery("bad", broker="memory://", backend="rpc://")
    with pytest.raises(UnsupportedResultBackend, match="Supported: sqlite:///"):
        Worker(app, pool="solo").start()


def test_the_worker_banner_names_the_backend_without_credentials() -> None:
    from types import SimpleNamespace

    from cfq_shim import Celery
    from cfq_shim.worker.banner import banner

    app = Celery("banner", broker="memory://", backend="redis://:hunter2@cache.internal:6380/1")
    worker = SimpleNamespace(app=app, concurrency=1, pool_name="solo", max_tasks_per_child=None, hostname="w@h",
                             batch_size=10, base_visibility_timeout_ms=1000, queues=["celery"])
    text = banner(worker, broker_url="memory://")
    assert ".> results:     redis://cache.internal:6380/…" in text and "hunter2" not in text
