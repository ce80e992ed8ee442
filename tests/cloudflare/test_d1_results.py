"""D1: the stand-in's query endpoint through the official SDK, and the d1:// result backend used by an
app and a worker (get() polls the stand-in), with D1's limits and clear configuration errors."""

from __future__ import annotations

import cloudflare
import pytest

from cfq_shim import Celery, chord
from cfq_shim.emulator import open_stand_in
from cfq_shim.results import UnsupportedResultBackend, open_backend
from cfq_shim.worker import Worker

ACCOUNT = "0" * 32


@pytest.fixture
def stand_in(tmp_path):
    with open_stand_in(str(tmp_path / "stand-in.sqlite3")) as server:
        yield server


@pytest.fixture
def client(stand_in):
    sdk = cloudflare.Cloudflare(api_token="t", base_url=stand_in.base_url, max_retries=0)
    yield sdk
    sdk.close()


def test_query_and_batch_answer_as_d1(client, stand_in):
    d1 = client.d1.database
    d1.query("db1", account_id=ACCOUNT, sql="CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    [insert, select] = list(d1.query("db1", account_id=ACCOUNT, batch=[
        {"sql": "INSERT INTO t VALUES (?, ?), (?, ?)", "params": ["a", 1, "b", 2]},
        {"sql": "SELECT k, v FROM t ORDER BY k", "params": []},
    ]).result)
    assert insert.meta.changes == 2 and insert.success
    assert select.results == [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
    assert stand_in.request_counts()["d1.query"] == 2


def test_a_failing_statement_rolls_the_whole_batch_back(client):
    d1 = client.d1.database
    d1.query("db1", account_id=ACCOUNT, sql="CREATE TABLE t (k TEXT PRIMARY KEY)")
    with pytest.raises(cloudflare.BadRequestError, match="7500"):
        d1.query("db1", account_id=ACCOUNT, batch=[
            {"sql": "INSERT INTO t VALUES (?)", "params": ["a"]},
            {"sql": "INSERT INTO nope VALUES (1)", "params": []},
        ])
    assert list(d1.query("db1", account_id=ACCOUNT, sql="SELECT COUNT(*) AS n FROM t").result)[0].results == [{"n": 0}]


def test_d1_limits_are_enforced(client):
    with pytest.raises(cloudflare.BadRequestError, match="too many SQL variables: 101"):
        client.d1.database.query("db1", account_id=ACCOUNT, sql="SELECT " + ", ".join(["?"] * 101), params=["1"] * 101)


def test_databases_are_separate(client):
    client.d1.database.query("one", account_id=ACCOUNT, sql="CREATE TABLE only_here (x)")
    client.d1.database.query("two", account_id=ACCOUNT, sql="CREATE TABLE only_here (x)")  # no clash


def test_d1_url_needs_account_and_token(monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    with pytest.raises(UnsupportedResultBackend, match="set CLOUDFLARE_API_TOKEN"):
        open_backend("d1://results-db")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "secret-token-value")
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID")
    with pytest.raises(UnsupportedResultBackend, match="set CLOUDFLARE_ACCOUNT_ID") as caught:
        open_backend("d1://results-db")
    assert "secret-token-value" not in str(caught.value)


def test_d1_url_names_a_token_kept_with_its_newline_without_showing_it(monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "secret-token-value\n")
    with pytest.raises(UnsupportedResultBackend, match="CLOUDFLARE_API_TOKEN starts or ends with whitespace") as caught:
        open_backend("d1://results-db")
    assert "secret-token-value" not in str(caught.value)


def test_an_app_stores_and_reads_results_in_d1(stand_in, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", stand_in.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "secret-token-value")
    app = Celery("d1app", broker="memory://", backend="d1://app-results")

    @app.task(bind=True)
    def add(self, x, y):
        self.update_state(state="PROGRESS", meta={"step": 1})
        return x + y

    @app.task
    def total(values):
        return sum(values)

    worker = Worker(app, pool="threads", concurrency=2, max_idle_backoff_seconds=0.02).start()
    try:
        assert add.delay(2, 3).get(timeout=30) == 5
        assert chord([add.s(i, i) for i in range(5)], total.s())().get(timeout=30) == 20
        assert "secret-token-value" not in repr(app.backend) and repr(app.backend.store) == "<D1ResultBackend d1://app-results>"
    finally:
        worker.stop()
        app.close()
    assert stand_in.request_counts()["d1.query"] > 5
