"""The Django transactional outbox (cfq_shim/django/outbox) on a real Django project, on SQLite and on a
real PostgreSQL server: ``delay_on_commit`` writes into the project's database in the caller's
transaction; a task is enqueued if and only if that transaction commits; a real worker runs it once.
Two forwarders on PostgreSQL never push a row twice. The project: tests/e2e/django_outbox_project.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from django_outbox_project import Project, wait_for
from services import postgres_server, unavailable

pytest.importorskip("django")


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url


def _postgres_databases(server_url: str, name: str) -> dict[str, Any]:
    """A fresh database ``name`` on the server, as Django's DATABASES."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[test]')")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(server_url)
    return {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": parts.username,
                        "HOST": parts.hostname, "PORT": str(parts.port)}}


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}}
    return _postgres_databases(request.getfixturevalue("postgres_url"), f"outbox_{tmp_path.name[-24:].lower()}"
                               .replace("-", "_"))


@pytest.fixture
def project(tmp_path: Path, databases: dict[str, Any]) -> Project:
    project = Project(tmp_path / "project", databases)
    project.migrate()
    return project


def test_the_documented_migrate_creates_the_table_and_no_migration_is_missing(tmp_path: Path, databases: dict[str, Any]):
    project = Project(tmp_path / "project", databases)
    project.run(sys.executable, "-m", "django", "migrate", "shop", "-v", "0")
    project.run(sys.executable, "-m", "django", "migrate", "cfq_shim_outbox", "-v", "0")  # as the docs say
    # The model and the shipped migration agree (a change to the model without its migration fails here).
    project.run(sys.executable, "-m", "django", "makemigrations", "cfq_shim_outbox", "--check", "--dry-run")
    assert project.scenario("autocommit") == {"rows_after_autocommit": 1}


def test_enqueued_if_and_only_if_the_transaction_commits_and_runs_once_on_a_real_worker(project: Project, tmp_path: Path):
    seen = project.scenario("commit", "rollback", "savepoint", "autocommit")
    # Inside the transaction the row exists for this connection only; a forwarder cannot push it.
    assert seen["rows_inside"] == 1
    assert seen["rows_seen_by_another_connection_inside"] == 0
    assert seen["forwarder_pushed_inside"] is False
    assert seen["rows_after_commit"] == 1
    assert len(seen["task_id"]) == 36  # delay_on_commit returned the AsyncResult
    assert seen["rows_after_rollback"] == 1  # the rolled-back one never reached the table
    assert seen["rows_after_savepoint"] == 2  # the outer block's, not the rolled-back savepoint's
    assert seen["rows_after_autocommit"] == 3  # outside a transaction: committed at once
    assert project.queued() == 0  # external forwarder mode: nothing pushed yet
    inspected = json.loads(project.cfq("inspect", "--json").stdout)["transactional_outbox"]
    assert inspected["depth"] == 3 and inspected["by_queue"] == {"shop": 3} and inspected["oldest_age_seconds"] > 0

    forwarded = project.cfq("forward", "--once", "--timeout", "30")
    assert "pushed 3 message(s)" in forwarded.stderr and "0 left" in forwarded.stderr, forwarded.stderr
    assert project.queued() == 3
    assert json.loads(project.cfq("inspect", "--json").stdout)["transactional_outbox"]["depth"] == 0

    expected = {"committed", "outer-kept", "autocommit"}
    project.run_worker_until(lambda: set(project.ran_labels()) >= expected and project.queued() == 0,
                             log=tmp_path / "worker.log")
    assert sorted(project.ran_labels()) == sorted(expected)  # each once; the rolled-back ones never


def test_the_in_process_forwarder_pushes_once_the_transaction_commits(tmp_path: Path):
    project = Project(tmp_path / "project", {"default": {"ENGINE": "django.db.backends.sqlite3",
                                                         "NAME": str(tmp_path / "db.sqlite3")}},
                      OUTBOX_FORWARDER="thread")
    project.migrate()
    seen = project.scenario("commit", "wait-empty")
    assert seen["forwarder_pushed_inside"] is False
    assert seen["rows_after_wait"] == 0  # the thread, woken by the commit, pushed it and deleted the row
    assert project.queued() == 1


def test_an_oversized_message_raises_at_enqueue_and_leaves_the_transaction_usable(tmp_path: Path):
    project = Project(tmp_path / "project", {"default": {"ENGINE": "django.db.backends.sqlite3",
                                                         "NAME": str(tmp_path / "db.sqlite3")}})
    project.migrate()
    seen = project.scenario("oversized")
    assert "shop.tasks.record" in seen["oversized_error"] and "byte limit" in seen["oversized_error"], seen
    assert seen["rows_in_tx_after_oversized"] == 0
    assert seen["orders_after_oversized"] == 1  # the caller's own writes committed


def test_misconfigurations_name_the_fix(tmp_path: Path):
    sqlite = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}}
    project = Project(tmp_path / "project", sqlite)
    # The app installed but its table not migrated (only shop's table exists).
    project.run(sys.executable, "-m", "django", "migrate", "shop", "-v", "0")
    seen = project.scenario("misconfigured")
    assert seen["error"].startswith("ImproperlyConfigured: ") and "migrate cfq_shim_outbox" in seen["error"], seen
    forwarded = project.cfq("forward", "--once", check=False)
    assert forwarded.returncode != 0 and "migrate cfq_shim_outbox" in forwarded.stderr, forwarded.stderr
    assert "Traceback" not in forwarded.stderr
    # The setting on, the app not in INSTALLED_APPS.
    seen = project.scenario("misconfigured", OUTBOX_INSTALLED_APPS='["shop"]')
    assert "'cfq_shim.django.outbox' is not in INSTALLED_APPS" in seen["error"], seen
    # The setting off: Celery's behaviour, on_commit (None returned, nothing in any table).
    project.migrate()
    seen = project.scenario("rollback", "autocommit", OUTBOX_ON="0")
    assert seen == {"rows_after_rollback": 0, "rows_after_autocommit": 0}
    assert project.queued() == 1  # the autocommit call was sent at once, as Celery's on_commit does


def test_an_unreachable_database_is_one_line_in_forward_and_inspect(tmp_path: Path):
    missing = tmp_path / "no-such-directory" / "db.sqlite3"  # SQLite cannot open it: as a server that is down
    project = Project(tmp_path / "project", {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(missing)}})
    for command in (("forward", "--once"), ("forward",), ("inspect",)):
        done = project.cfq(*command, check=False)
        assert done.returncode != 0 and "Traceback" not in done.stderr, (command, done.stderr)
        assert "unable to open database file" in done.stderr and "'default'" in done.stderr, (command, done.stderr)


def test_two_forwarders_on_postgresql_never_push_a_row_twice(tmp_path: Path, postgres_url: str):
    total = 3000
    project = Project(tmp_path / "project", _postgres_databases(postgres_url, "outbox_two_forwarders"))
    project.migrate()
    assert project.scenario(f"many:{total}")["rows_after_many"] == total
    logs = [tmp_path / "forward-1.log", tmp_path / "forward-2.log"]
    forwarders = [project.popen("forward", "--once", "--timeout", "60", log=log) for log in logs]
    for forwarder in forwarders:
        assert forwarder.wait(120) == 0
    pushed = []
    for log in logs:
        line = [text for text in log.read_text().splitlines() if "pushed" in text][-1]
        pushed.append(int(line.split("pushed ")[1].split(" ")[0]))
    assert sum(pushed) == total, pushed  # every row pushed by exactly one of them
    assert project.queued() == total  # and the queue holds no duplicate


def test_claims_keep_order_limits_back_off_and_leases(project: Project):
    seen = project.scenario("store")
    # The oldest queue first, oldest rows first, within the byte limit (1,000-byte rows, 2,500 bytes).
    assert seen["oldest_queue_first_within_bytes"] == ["a", ["a0", "a1"]]
    assert seen["claimed_rows_skipped"] == ["a", ["a2", "a3"]]
    # A failed push backs its queue off whole: a4 is not pushed before a2 and a3; queue b goes meanwhile.
    assert seen["backing_off_queue_waits_whole"] == ["b", ["b0", "b1"]]
    assert seen["other_queue_meanwhile"] == ["b", ["b2"]]
    assert seen["stats"] == [8, {"a": 5, "b": 3}, "boom"]  # another destination's row is not counted
    assert seen["depth_after_delete"] == 6
    assert seen["live_claim_kept"] is None
    assert seen["dead_claim_taken_over"] == ["c", ["c0"]]
    assert seen["remote_claim_kept"] is None
    assert seen["expired_claim_taken_over"] == ["c", ["c0"]]
    assert seen["young_small_batch_lingers"] is None
    assert seen["full_batch_goes"] == ["e", ["e0"]]


def test_claims_on_a_database_without_limit_in_select_for_update(project: Project):
    # Django's Oracle backend has SKIP LOCKED but refuses LIMIT with FOR UPDATE: claims take the
    # conditional UPDATE path there (emulated on PostgreSQL by turning the feature off).
    assert project.scenario("no-limit-for-update") == {"claimed": ["q0", "q1"]}


def test_apply_async_on_commit_using_another_database_and_forward_database(tmp_path: Path):
    databases = {alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / f"{alias}.sqlite3")}
                 for alias in ("default", "other")}
    project = Project(tmp_path / "project", databases)
    project.migrate()
    unmigrated = project.cfq("forward", "--once", "--database", "other", check=False)
    assert "`python manage.py migrate cfq_shim_outbox --database other`" in unmigrated.stderr, unmigrated.stderr
    project.run(sys.executable, "-m", "django", "migrate", "--database", "other", "-v", "0")
    assert project.scenario("other-database")["rows"] == [0, 1]
    assert "pushed 0 message(s)" in project.cfq("forward", "--once").stderr
    forwarded = project.cfq("forward", "--once", "--database", "other")
    assert "pushed 1 message(s)" in forwarded.stderr and "'other'" in forwarded.stderr, forwarded.stderr
    assert project.queued() == 1


def test_a_router_that_puts_the_outbox_in_another_database_than_the_transaction_is_refused(tmp_path: Path):
    # The row would be committed at once in "other" while the caller's transaction on "default" rolls
    # back: the task would be enqueued for a rolled-back transaction. The call refuses, naming both.
    databases = {alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / f"{alias}.sqlite3")}
                 for alias in ("default", "other")}
    project = Project(tmp_path / "project", databases, OUTBOX_ROUTERS='["mysite.routers.OutboxToOther"]')
    project.migrate()
    project.run(sys.executable, "-m", "django", "migrate", "--database", "other", "-v", "0")
    seen = project.scenario("routed")
    assert seen["error"].startswith("ImproperlyConfigured: ") and "'default'" in seen["error"] \
        and "'other'" in seen["error"], seen
    assert seen["rows"] == [0, 0]  # nothing was written anywhere
    assert seen["rows_after_using_other"] == 1  # a transaction on the outbox's own database is fine


def test_a_forwarder_survives_its_database_going_away_and_pushes_once_it_is_back(tmp_path: Path):
    sqlite = tmp_path / "db.sqlite3"
    project = Project(tmp_path / "project", {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(sqlite)}})
    project.migrate()
    log = tmp_path / "forward.log"
    forwarder = project.popen("forward", "-l", "info", log=log)
    try:
        wait_for(lambda: "Forwarding the outbox" in log.read_text(), what="the forwarder to start", log=log)
        # The table goes away under it (as a database that is down or was restored without it) ...
        project.run(sys.executable, "-m", "django", "migrate", "cfq_shim_outbox", "zero", "-v", "0")
        wait_for(lambda: "cannot use the outbox" in log.read_text(), what="the forwarder to report it", log=log)
        text = log.read_text()
        assert "Traceback" not in text and "no such table" in text, text
        # ... and comes back: what is committed then is pushed by the same process.
        project.migrate()
        project.scenario("autocommit")
        wait_for(lambda: project.queued() == 1, what="the push after the outage", log=log)
        assert forwarder.poll() is None
        assert log.read_text().count("cannot use the outbox") == 1  # one line while it lasted, no flood
    finally:
        forwarder.terminate()
        forwarder.wait(30)
