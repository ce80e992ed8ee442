"""``cfq-shim -A proj provision``: the plan, the wrangler commands, and idempotent creation on the stand-in."""

from __future__ import annotations

import sys
import textwrap

import pytest
from click.testing import CliRunner
from stand_in_support import ACCOUNT, SECRET_TOKEN

from cfq_shim.cli import main
from cfq_shim.provision import plan_queues, wrangler_commands

APP_SOURCE = f'''
from cfq_shim import Celery

app = Celery("proj", broker="cloudflare://{ACCOUNT}")
app.conf.task_default_queue = "default"
app.conf.task_routes = {{"proj.report": {{"queue": "reports.daily"}}}}
app.conf.cfq_queue_max_retries = 4
app.conf.broker_visibility_timeout = 90


@app.task(queue="emails")
def send_email(to):
    return to


@app.task(name="proj.report")
def report():
    return 1


@app.task
def add(x, y):
    return x + y
'''


@pytest.fixture
def project(tmp_path, monkeypatch, stand_in):
    """An importable app module `provapp`, and the environment pointing the transport at the stand-in."""
    (tmp_path / "provapp.py").write_text(textwrap.dedent(APP_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", stand_in.base_url)
    monkeypatch.delenv("CFQ_SHIM_QUEUE_PREFIX", raising=False)
    sys.modules.pop("provapp", None)  # each test loads a fresh app, bound to its own stand-in
    yield stand_in
    sys.modules.pop("provapp", None)


def run(*args: str):
    return CliRunner().invoke(main, ["-A", "provapp", "provision", *args], catch_exceptions=False)


def test_plan_covers_default_queue_task_queues_and_routes(project):
    from cfq_shim.loading import load_app

    plans = {p.queue: p for p in plan_queues(load_app("provapp"))}
    assert sorted(plans) == ["default", "emails", "reports.daily"]
    emails = plans["emails"]
    assert (emails.cloudflare_name, emails.dead_letter_cloudflare_name) == ("emails", "emails-dlq")
    assert (emails.settings.max_retries, emails.settings.visibility_timeout_ms, emails.settings.batch_size) \
        == (4, 90_000, 100)
    # A lapsed lease (a crashed worker) comes back right after the lease, not 180 s later (issue 7).
    assert emails.settings.retry_delay_seconds == 0
    daily = plans["reports.daily"]
    assert daily.cloudflare_name.startswith("reports-daily-")
    assert daily.dead_letter_cloudflare_name.startswith("reports-daily-dlq-")


def test_dry_run_prints_plan_and_wrangler_commands_and_changes_nothing(project):
    result = run("--dry-run")
    assert result.exit_code == 0, result.output
    assert "npx wrangler queues create emails-dlq" in result.output
    assert "npx wrangler queues consumer http add emails-dlq\n" in result.output
    assert ("npx wrangler queues consumer http add emails --batch-size 100 --message-retries 4 "
            "--retry-delay-secs 0 --visibility-timeout-secs 90 --dead-letter-queue emails-dlq") in result.output
    assert project.service.store.list_queues() == []
    assert project.request_counts() == {}


def test_provision_creates_queues_dead_letter_queues_and_consumers(project):
    result = run()
    assert result.exit_code == 0, result.output
    store = project.service.store
    names = sorted(q.queue_name for q in store.list_queues())
    assert len(names) == 6 and {"default", "default-dlq", "emails", "emails-dlq"} <= set(names)
    emails = store.queue_by_name("emails").config
    consumer = emails.consumer
    assert (emails.consumer_id is not None, consumer.max_retries, consumer.dead_letter_queue,
            consumer.visibility_timeout_ms, consumer.retry_delay_seconds, consumer.batch_size) \
        == (True, 4, "emails-dlq", 90_000, 0, 100)
    # A dead-letter queue gets a default http_pull consumer, so its dead letters can be pulled to replay.
    dlq = store.queue_by_name("emails-dlq").config
    assert dlq.consumer_id is not None and dlq.consumer.dead_letter_queue is None


def test_provision_and_the_embedded_store_get_the_same_consumer_settings(project, tmp_path):
    """One queue policy: what provision sets on Cloudflare is what the app's queues get when the embedded
    store creates them on first use."""
    from cfq_shim import Celery
    from cfq_shim.loading import load_app

    planned = {p.queue: p.settings for p in plan_queues(load_app("provapp"))}
    local = Celery("proj", broker=f"sqlite:///{tmp_path / 'local.sqlite3'}", set_as_current=False)
    local.conf.update(cfq_queue_max_retries=4, broker_visibility_timeout=90)
    local.send_task("proj.report", queue="emails")
    try:
        assert local.transport.queue_settings("emails") == planned["emails"]
    finally:
        local.close()


def test_provision_updates_a_consumer_that_differs_and_says_what_changed(project):
    assert run().exit_code == 0
    store = project.service.store
    emails = store.queue_by_name("emails")
    # As an earlier provision left it: Celery's default_retry_delay as the consumer's retry_delay.
    store.configure(emails.queue_id, emails.config.with_changes(retry_delay_seconds=180, batch_size=10))
    result = run()
    assert result.exit_code == 0, result.output
    assert "emails: batch_size 10 -> 100, retry_delay_seconds 180 -> 0" in result.output
    consumer = store.queue_by_name("emails").config.consumer
    assert (consumer.retry_delay_seconds, consumer.batch_size) == (0, 100)
    assert "differ" not in run().output  # converged: nothing left to report


def test_provision_is_idempotent(project):
    assert run().exit_code == 0
    store = project.service.store
    before = {q.queue_name: (q.queue_id, q.config) for q in store.list_queues()}
    project.reset_request_counts()
    second = run()
    assert second.exit_code == 0, second.output
    assert {q.queue_name: (q.queue_id, q.config) for q in store.list_queues()} == before
    counts = project.request_counts()
    assert not {"queues.create", "consumers.create", "consumers.update"} & set(counts)


def test_provision_without_a_token_fails_with_a_clear_error(project, monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    result = CliRunner().invoke(main, ["-A", "provapp", "provision"])
    assert result.exit_code == 1
    assert "CLOUDFLARE_API_TOKEN" in result.output and "Traceback" not in result.output


def test_the_prefix_from_the_environment_reaches_names_and_commands(project, monkeypatch):
    monkeypatch.setenv("CFQ_SHIM_QUEUE_PREFIX", "staging-")
    from cfq_shim.loading import load_app

    commands = wrangler_commands(plan_queues(load_app("provapp")))
    assert "npx wrangler queues create staging-emails" in commands


def test_inspect_reads_backlog_and_dead_letters_through_the_cloudflare_transport(project):
    import json

    assert run().exit_code == 0
    store = project.service.store
    store.push_batch(store.queue_by_name("emails").queue_id, [("a", "text", 0), ("b", "text", 0)])
    store.push(store.queue_by_name("emails-dlq").queue_id, "dead", content_type="text")
    result = CliRunner().invoke(main, ["-A", "provapp", "inspect", "-Q", "emails", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["queues"]
    assert (row["exists"], row["ready"], row["dead_letters"]) == (True, 2, 1)


def test_on_the_embedded_store_provision_declares_the_queues_with_their_settings(tmp_path, monkeypatch):
    (tmp_path / "sqliteapp.py").write_text(textwrap.dedent('''
        from cfq_shim import Celery
        app = Celery("sqliteapp", broker="sqlite:///queues.sqlite3")
        app.conf.cfq_queue_max_retries = 2

        @app.task(queue="high.priority")
        def job():
            return 1
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("sqliteapp", None)
    result = CliRunner().invoke(main, ["-A", "sqliteapp", "provision"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "high.priority -> high.priority:" in result.output  # names are not mapped off Cloudflare
    from sqliteapp import app

    assert app.transport.queue_settings("high.priority").max_retries == 2
    app.close()
    sys.modules.pop("sqliteapp", None)


def test_dash_q_provisions_queues_only_call_sites_name(project):
    from cfq_shim.loading import load_app
    from cfq_shim.transport.base import QueueNotFound

    # Given a call site that names a queue no task, route or setting names
    app = load_app("provapp")
    with pytest.raises(QueueNotFound) as raised:
        app.send_task("provapp.add", (1, 2), queue="lopri")
    # Then the error names the command that creates it
    assert "provision -Q lopri" in str(raised.value)

    # When provision is run with -Q
    result = run("-Q", "lopri, bulk")
    assert result.exit_code == 0, result.output
    assert "lopri -> lopri:" in result.output and "default -> default:" in result.output
    store = project.service.store
    assert {"lopri", "lopri-dlq", "bulk", "bulk-dlq", "default", "emails"} <= {q.queue_name for q in store.list_queues()}
    assert store.queue_by_name("lopri").config.consumer.dead_letter_queue == "lopri-dlq"
    # Then the call goes through
    app.send_task("provapp.add", (1, 2), queue="lopri")
    app.close()


def test_inspect_and_purge_cover_every_planned_queue_and_its_dead_letters(project):
    import json

    from cfq_shim.loading import load_app
    from cfq_shim.naming import dead_letter_queue_name

    # Given every planned queue provisioned, one live message and one dead letter per queue
    assert run().exit_code == 0
    app = load_app("provapp")
    planned = [plan.queue for plan in plan_queues(app)]
    store = project.service.store
    store.push(store.queue_by_name("emails").queue_id, "live", content_type="text")
    for name in planned:
        dead_letters = app.transport.cloudflare_name(dead_letter_queue_name(name))
        store.push(store.queue_by_name(dead_letters).queue_id, "dead", content_type="text")

    def inspect() -> list[dict]:
        result = CliRunner().invoke(main, ["-A", "provapp", "inspect", "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["queues"]

    # Then inspect lists each planned queue with its dead letters
    rows = inspect()
    assert [row["queue"] for row in rows] == planned
    assert [(row["ready"], row["dead_letters"]) for row in rows] == [(int(name == "emails"), 1) for name in planned]
    # And purge --dead-letters empties each queue and its dead-letter queue
    purged = CliRunner().invoke(main, ["-A", "provapp", "purge", "-f", "--dead-letters"], catch_exceptions=False)
    assert purged.exit_code == 0, purged.output
    assert f"Purged {1 + len(planned)} message(s)" in purged.output
    assert [(row["ready"], row["dead_letters"]) for row in inspect()] == [(0, 0)] * len(planned)
    app.close()
