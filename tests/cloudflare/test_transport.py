"""The cloudflare:// transport against the stand-in: credentials, names, retries, errors, bodies."""

from __future__ import annotations

import logging

import pytest
from stand_in_support import ACCOUNT, SECRET_TOKEN, start_stand_in, stop_stand_in

from cfq_shim.transport import open_transport
from cfq_shim.transport.base import (
    AuthenticationFailed,
    OutgoingMessage,
    Overloaded,
    QueueNotFound,
    QueuePaused,
    QueueSettings,
    TransportError,
)
from cfq_shim.transport.cloudflare import CloudflareTransport, decode_body


@pytest.fixture
def cf_env(monkeypatch, stand_in):
    """The environment a user sets, pointed at the stand-in."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", stand_in.base_url)
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("CFQ_SHIM_QUEUE_PREFIX", raising=False)
    return stand_in


def transport_for(stand_in, **options) -> CloudflareTransport:
    options.setdefault("max_retries", 0)
    return CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, base_url=stand_in.base_url, **options)


# -- configuration and credentials ---------------------------------------------------------------------

def test_open_transport_reads_account_from_url_and_token_and_base_url_from_env(cf_env):
    transport = open_transport(f"cloudflare://{ACCOUNT}?queue_prefix=staging-&pullers=3")
    try:
        assert isinstance(transport, CloudflareTransport)
        assert (transport.account_id, transport.queue_prefix, transport.pull_concurrency) == (ACCOUNT, "staging-", 3)
        assert transport.cloudflare_name("celery") == "staging-celery"
    finally:
        transport.close()


def test_account_falls_back_to_cloudflare_account_id(cf_env, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    transport = open_transport("cloudflare://")
    assert transport.account_id == ACCOUNT
    transport.close()


def test_missing_token_fails_at_start_up_naming_the_variable_and_permission(cf_env, monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    with pytest.raises(AuthenticationFailed) as caught:
        open_transport(f"cloudflare://{ACCOUNT}")
    assert "CLOUDFLARE_API_TOKEN" in str(caught.value) and "Queues" in str(caught.value)


@pytest.mark.parametrize("token, why", [
    ("s3cr3t-token-value\n", "starts or ends with whitespace"),
    (" s3cr3t-token-value", "starts or ends with whitespace"),
    ("s3cr3t-tokén-value", "holds characters an API token never has"),
    ("s3cr3t token value", "holds characters an API token never has"),
])
def test_a_malformed_token_is_named_without_being_shown(cf_env, monkeypatch, token, why):
    # Before: a trailing newline failed as "cannot reach the Cloudflare API: Connection error", and a
    # non-ASCII character as a UnicodeEncodeError traceback from httpx.
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)
    with pytest.raises(AuthenticationFailed) as caught:
        open_transport(f"cloudflare://{ACCOUNT}?max_retries=0")
    text = str(caught.value)
    assert text.startswith(f"CLOUDFLARE_API_TOKEN {why}") and "Queues: Edit" in text
    assert "s3cr3t" not in text and "s3cr3t" not in repr(caught.value)


def test_missing_account_fails_naming_the_variable(cf_env):
    with pytest.raises(AuthenticationFailed, match="CLOUDFLARE_ACCOUNT_ID"):
        open_transport("cloudflare://")


def test_unknown_url_option_is_a_clear_error(cf_env):
    with pytest.raises(ValueError, match="unknown cloudflare:// option"):
        open_transport(f"cloudflare://{ACCOUNT}?queue_prefx=x")


def test_rejected_token_fails_at_start_up_and_never_shows_the_token(tmp_path, clock, monkeypatch, caplog):
    server = start_stand_in(tmp_path / "auth.sqlite3", clock=clock, token="the-right-token")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", server.base_url)
    caplog.set_level(logging.DEBUG)  # the SDK, httpx and the stand-in log at DEBUG
    try:
        with pytest.raises(AuthenticationFailed) as caught:
            open_transport(f"cloudflare://{ACCOUNT}?max_retries=0")
    finally:
        stop_stand_in(server)
    text = str(caught.value)
    assert "CLOUDFLARE_API_TOKEN" in text and "Queues: Edit" in text and ACCOUNT in text
    assert SECRET_TOKEN not in text and SECRET_TOKEN not in repr(caught.value)
    assert SECRET_TOKEN not in str(caught.value.__context__)
    assert caplog.records, "expected the SDK to log the failed request at DEBUG"
    assert SECRET_TOKEN not in caplog.text


def test_token_never_appears_in_errors_or_logs_of_failed_calls(stand_in, caplog):
    caplog.set_level(logging.DEBUG)
    transport = transport_for(stand_in)
    errors = []
    for attempt in (lambda: transport.send("missing", "x"),
                    lambda: transport.pull("missing", batch_size=1, visibility_timeout_ms=1000),
                    lambda: transport.stats("missing")):
        with pytest.raises(TransportError) as caught:
            attempt()
        errors.append(caught.value)
    stand_in.service.store.create_queue("work")
    stand_in.fail_next("messages.push", status=500, code=15000)
    with pytest.raises(TransportError) as caught:
        transport.send("work", "x")
    errors.append(caught.value)
    assert caught.value.code == 15000
    assert all(SECRET_TOKEN not in f"{e!s} {e!r}" for e in errors)
    assert SECRET_TOKEN not in repr(transport)
    assert SECRET_TOKEN not in caplog.text
    transport.close()


def test_missing_queue_names_cfq_shim_provision(stand_in):
    transport = transport_for(stand_in)
    with pytest.raises(QueueNotFound) as caught:
        transport.send("emails", "x")
    assert "cfq-shim" in str(caught.value) and "provision" in str(caught.value)
    assert "'emails'" in str(caught.value)


# -- names and ids -----------------------------------------------------------------------------------------

def test_queue_ids_are_resolved_once_and_cached(stand_in):
    stand_in.service.store.create_queue("celery")
    transport = transport_for(stand_in)
    stand_in.reset_request_counts()
    for _ in range(3):
        transport.send("celery", "x")
    assert stand_in.request_counts() == {"messages.push": 3}
    transport.close()


def test_a_queue_created_after_start_up_is_found_by_refreshing(stand_in):
    transport = transport_for(stand_in)
    stand_in.service.store.create_queue("late")
    transport.send("late", "x")
    assert transport.pull("late", batch_size=1, visibility_timeout_ms=1000)[0].body == "x"
    transport.close()


def test_celery_names_cloudflare_rejects_are_mapped_to_valid_names(stand_in):
    transport = transport_for(stand_in, queue_prefix="App_")
    transport.declare_queue("high.priority")
    (queue,) = stand_in.service.store.list_queues()
    assert queue.queue_name == transport.cloudflare_name("high.priority")
    assert queue.queue_name.startswith("app-high-priority-")
    transport.send("high.priority", "x")
    assert transport.pull("high.priority", batch_size=1, visibility_timeout_ms=1000)[0].body == "x"
    transport.close()


def test_declare_queue_creates_the_queue_and_its_http_pull_consumer_idempotently(stand_in, sdk):
    transport = transport_for(stand_in)
    settings = QueueSettings(max_retries=5, dead_letter_queue="jobs-dlq", retry_delay_seconds=3,
                             visibility_timeout_ms=45_000, batch_size=20)
    transport.declare_queue("jobs-dlq")
    transport.declare_queue("jobs", settings)
    transport.declare_queue("jobs", settings)
    assert sorted(q.queue_name for q in stand_in.service.store.list_queues()) == ["jobs", "jobs-dlq"]
    assert transport.queue_settings("jobs") == settings
    changed = QueueSettings(max_retries=1, dead_letter_queue="jobs-dlq")
    transport.declare_queue("jobs", changed)
    assert transport.queue_settings("jobs") == changed
    transport.close()


# -- retries and errors -------------------------------------------------------------------------------------

def test_429_is_retried_honouring_retry_after_and_stores_once(stand_in):
    stand_in.service.store.create_queue("celery")
    transport = transport_for(stand_in, max_retries=2)
    stand_in.reset_request_counts()
    stand_in.fail_next("messages.batch", status=429, code=10250, retry_after_seconds=1)
    transport.send_batch("celery", [OutgoingMessage("a"), OutgoingMessage("b")])
    assert stand_in.request_counts() == {"messages.batch": 2}
    assert sorted(m.body for m in transport.pull("celery", batch_size=10, visibility_timeout_ms=1000)) == ["a", "b"]
    transport.close()


def test_429_after_the_last_retry_raises_overloaded(stand_in):
    stand_in.service.store.create_queue("celery")
    transport = transport_for(stand_in, max_retries=0)
    stand_in.fail_next("messages.push", status=429, code=10250)
    with pytest.raises(Overloaded) as caught:
        transport.send("celery", "x")
    assert caught.value.code == 10250
    transport.close()


def test_pull_from_paused_queue_raises_queue_paused_without_sdk_retries(stand_in):
    record = stand_in.service.store.create_queue("celery")
    stand_in.service.store.configure(record.queue_id, record.config.with_changes(delivery_paused=True))
    transport = transport_for(stand_in, max_retries=3)
    stand_in.reset_request_counts()
    with pytest.raises(QueuePaused):
        transport.pull("celery", batch_size=10, visibility_timeout_ms=1000)
    assert stand_in.request_counts() == {"messages.pull": 1}
    transport.close()


def test_limits_are_checked_before_any_request(stand_in):
    stand_in.service.store.create_queue("celery")
    transport = transport_for(stand_in)
    stand_in.reset_request_counts()
    too_many = [OutgoingMessage("x")] * (transport.limits.max_batch_messages + 1)
    with pytest.raises(TransportError) as caught:
        transport.send_batch("celery", too_many)
    assert caught.value.code == 10206
    assert stand_in.request_counts() == {}
    transport.close()


def test_ack_settles_acks_and_retries_in_one_request(stand_in):
    from cfq_shim.transport.base import RetryRequest

    stand_in.service.store.create_queue("celery")
    transport = transport_for(stand_in)
    transport.send_batch("celery", [OutgoingMessage(str(i)) for i in range(4)])
    leased = transport.pull("celery", batch_size=10, visibility_timeout_ms=5_000)
    stand_in.reset_request_counts()
    result = transport.ack("celery", acks=[m.lease_id for m in leased[:3]],
                           retries=[RetryRequest(leased[3].lease_id, 0)])
    assert (result.ack_count, result.retry_count, dict(result.warnings)) == (3, 1, {})
    assert stand_in.request_counts() == {"messages.ack": 1}
    transport.close()


def test_send_batch_sends_the_json_the_sdks_typed_messages_argument_sends():
    """send_batch hands the messages to bulk_push as extra_body (skipping the SDK's per-message type
    transform, milliseconds of CPU per push); the request must stay byte-identical to messages=."""
    import json

    import cloudflare
    import httpx

    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": {}})

    client = cloudflare.Cloudflare(api_token=SECRET_TOKEN, base_url="http://127.0.0.1:9/client/v4", max_retries=0,
                                   http_client=httpx.Client(transport=httpx.MockTransport(answer)))
    transport = CloudflareTransport(account_id=ACCOUNT, api_token=SECRET_TOKEN, verify=False)
    transport._client.close()
    transport._client = client
    transport._ids[transport.cloudflare_name("celery")] = "q" * 32
    messages = [OutgoingMessage('{"id": "\u00e9t\u00e9", "args": [1]}', 0), OutgoingMessage("plain text", 42)]
    transport.send_batch("celery", messages)
    client.queues.messages.bulk_push("q" * 32, account_id=ACCOUNT, messages=[
        {"body": m.body, "content_type": "text", "delay_seconds": m.delay_seconds} for m in messages])
    fast, typed = bodies
    assert fast == typed
    assert json.loads(fast)["messages"][1] == {"body": "plain text", "content_type": "text", "delay_seconds": 42}
    transport.close()


# -- bodies --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "content_type", "expected"), [
    ('{"id": 1}', "text", '{"id": 1}'),
    ("plain words", None, "plain words"),
    ('{"id": 1}', "json", '{"id": 1}'),
    ('"{\\"id\\": 1}"', "json", '{"id": 1}'),  # a JSON string published as json
    ("eyJpZCI6IDF9", "json", '{"id": 1}'),  # base64 of the JSON
    ("IntcImlkXCI6IDF9Ig==", "json", '{"id": 1}'),  # base64 of a JSON string: unwrapped as the plain form is
    ("eyJpZCI6IDF9", "bytes", '{"id": 1}'),
    ({"id": 1}, "json", '{"id":1}'),  # an already-decoded JSON value
])
def test_bodies_are_read_as_text_json_or_base64(body, content_type, expected):
    assert decode_body(body, content_type) == expected
