"""The official SDK, unchanged, against the stand-in: every Queues endpoint answers as Cloudflare's does."""

from __future__ import annotations

import base64
import json

import cloudflare
import httpx
import pytest
from stand_in_support import ACCOUNT

from cfq_shim.emulator import STATS_PATH


# -- queues ------------------------------------------------------------------------------------------

def test_create_get_and_list_queues(sdk):
    created = sdk.queues.create(account_id=ACCOUNT, queue_name="emails")
    assert len(created.queue_id) == 32 and created.queue_name == "emails"
    assert created.settings.delivery_paused is False
    assert created.settings.message_retention_period == 4 * 86_400

    fetched = sdk.queues.get(created.queue_id, account_id=ACCOUNT)
    assert (fetched.queue_id, fetched.queue_name) == (created.queue_id, "emails")

    sdk.queues.create(account_id=ACCOUNT, queue_name="billing")
    assert sorted(q.queue_name for q in sdk.queues.list(account_id=ACCOUNT)) == ["billing", "emails"]


def test_list_answers_cloudflare_pagination_shape(stand_in, sdk):
    for name in ("a", "b", "c"):
        sdk.queues.create(account_id=ACCOUNT, queue_name=name)
    body = httpx.get(f"{stand_in.base_url}/accounts/{ACCOUNT}/queues", params={"per_page": 2, "page": 2},
                     headers={"Authorization": "Bearer x"}).json()
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    assert [q["queue_name"] for q in body["result"]] == ["c"]
    assert body["result_info"] == {"page": 2, "per_page": 2, "count": 1, "total_count": 3, "total_pages": 2}


def test_update_renames_and_pauses_and_edit_patches(sdk, queue_id):
    updated = sdk.queues.update(queue_id, account_id=ACCOUNT, queue_name="renamed",
                                settings={"delivery_paused": True})
    assert (updated.queue_name, updated.settings.delivery_paused) == ("renamed", True)
    edited = sdk.queues.edit(queue_id, account_id=ACCOUNT, settings={"delivery_paused": False,
                                                                      "message_retention_period": 3600})
    assert (edited.settings.delivery_paused, edited.settings.message_retention_period) == (False, 3600)


def test_delete_removes_the_queue_and_its_messages(sdk, queue_id):
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    answer = sdk.queues.delete(queue_id, account_id=ACCOUNT)
    assert answer.success is True
    assert list(sdk.queues.list(account_id=ACCOUNT)) == []
    with pytest.raises(cloudflare.NotFoundError):
        sdk.queues.get(queue_id, account_id=ACCOUNT)


def test_metrics_report_backlog(sdk, queue_id, clock):
    sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
        {"body": "ab", "content_type": "text"}, {"body": "cde", "content_type": "text"}])
    metrics = sdk.queues.get_metrics(queue_id, account_id=ACCOUNT)
    assert metrics.backlog_count == 2
    assert metrics.backlog_bytes > 5  # bodies plus Cloudflare's per-message metadata
    assert metrics.oldest_message_timestamp_ms == clock.now_ms()


def test_purge_deletes_every_message_and_reports_completion(sdk, queue_id):
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=1)  # leased ones go too
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="y", content_type="text")
    sdk.queues.purge.start(queue_id, account_id=ACCOUNT, delete_messages_permanently=True)
    assert sdk.queues.get_metrics(queue_id, account_id=ACCOUNT).backlog_count == 0
    status = sdk.queues.purge.status(queue_id, account_id=ACCOUNT)
    assert status.completed == "true" and status.started_at.startswith("2027-")  # the manual clock's date


# -- consumers -----------------------------------------------------------------------------------------

def test_http_pull_consumer_create_list_get_update_delete(sdk, queue_id):
    created = sdk.queues.consumers.create(
        queue_id, account_id=ACCOUNT, type="http_pull", dead_letter_queue="work-dlq",
        settings={"batch_size": 50, "max_retries": 7, "retry_delay": 10, "visibility_timeout_ms": 60_000},
    )
    assert created.type == "http_pull" and len(created.consumer_id) == 32
    assert created.dead_letter_queue == "work-dlq"
    assert (created.settings.batch_size, created.settings.max_retries, created.settings.retry_delay,
            created.settings.visibility_timeout_ms) == (50, 7, 10, 60_000)

    (listed,) = list(sdk.queues.consumers.list(queue_id, account_id=ACCOUNT))
    assert listed.consumer_id == created.consumer_id
    assert sdk.queues.get(queue_id, account_id=ACCOUNT).consumers_total_count == 1
    fetched = sdk.queues.consumers.get(created.consumer_id, account_id=ACCOUNT, queue_id=queue_id)
    assert fetched.settings.max_retries == 7

    updated = sdk.queues.consumers.update(created.consumer_id, account_id=ACCOUNT, queue_id=queue_id,
                                          type="http_pull", settings={"batch_size": 5, "max_retries": 1})
    assert (updated.settings.batch_size, updated.settings.max_retries, updated.dead_letter_queue) == (5, 1, "")

    deleted = sdk.queues.consumers.delete(created.consumer_id, account_id=ACCOUNT, queue_id=queue_id)
    assert deleted.success is True
    assert list(sdk.queues.consumers.list(queue_id, account_id=ACCOUNT)) == []


def test_consumer_settings_drive_pull_defaults_and_dead_lettering(sdk, queue_id):
    dlq = sdk.queues.create(account_id=ACCOUNT, queue_name="work-dlq")
    sdk.queues.consumers.create(queue_id, account_id=ACCOUNT, type="http_pull", dead_letter_queue="work-dlq",
                                settings={"batch_size": 2, "max_retries": 0})
    sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
        {"body": str(i), "content_type": "text"} for i in range(3)])
    first = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT)
    assert len(first.messages) == 2  # the consumer's batch_size
    # max_retries=0: one delivery, and a retry sends the message to the dead-letter queue.
    sdk.queues.messages.ack(queue_id, account_id=ACCOUNT, retries=[{"lease_id": first.messages[0].lease_id}])
    assert sdk.queues.get_metrics(dlq.queue_id, account_id=ACCOUNT).backlog_count == 1


# -- messages --------------------------------------------------------------------------------------------

def test_push_text_and_pull_it_back_with_lease_and_metadata(sdk, queue_id, clock):
    pushed = sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body='{"id": "t1"}', content_type="text")
    assert pushed.metadata.metrics.backlog_count == 1
    pulled = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10, visibility_timeout_ms=5_000)
    (message,) = pulled.messages
    assert message.body == '{"id": "t1"}'
    assert message.attempts == 1 and message.timestamp_ms == clock.now_ms()
    assert len(message.id) == 32 and message.lease_id
    assert message.metadata["CF-Content-Type"] == "text"
    assert pulled.message_backlog_count == 1


def test_json_and_bytes_bodies_come_back_as_cloudflare_shapes_them(sdk, queue_id):
    raw = b"\x00\x01binary"
    sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
        {"body": {"task": "add", "args": [1, 2]}, "content_type": "json"},
        {"body": base64.b64encode(raw).decode(), "content_type": "bytes"},
    ])
    pulled = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10)
    by_type = {m.metadata["CF-Content-Type"]: m.body for m in pulled.messages}
    assert json.loads(by_type["json"]) == {"task": "add", "args": [1, 2]}
    assert base64.b64decode(by_type["bytes"]) == raw


def test_bulk_push_with_batch_delay_and_per_message_delay(sdk, queue_id, clock):
    sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, delay_seconds=5, messages=[
        {"body": "batch-delay", "content_type": "text"},
        {"body": "own-delay", "content_type": "text", "delay_seconds": 1},
    ])
    assert sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10).messages == []
    clock.advance(1_000)
    assert [m.body for m in sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10).messages] \
        == ["own-delay"]
    clock.advance(4_000)
    assert [m.body for m in sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10).messages] \
        == ["batch-delay"]


def test_ack_and_retry_in_one_call_with_warnings_for_unknown_leases(sdk, queue_id, clock):
    sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
        {"body": "done", "content_type": "text"}, {"body": "again", "content_type": "text"}])
    messages = {m.body: m for m in sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10).messages}
    answer = sdk.queues.messages.ack(
        queue_id, account_id=ACCOUNT,
        acks=[{"lease_id": messages["done"].lease_id}, {"lease_id": "0" * 32}],
        retries=[{"lease_id": messages["again"].lease_id, "delay_seconds": 2}],
    )
    assert (answer.ack_count, answer.retry_count) == (1, 1)
    assert list(answer.warnings) == ["0" * 32]
    clock.advance(2_000)
    (again,) = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10).messages
    assert (again.body, again.attempts) == ("again", 2)


def test_ack_answer_uses_camel_case_on_the_wire(stand_in, sdk, queue_id):
    body = httpx.post(f"{stand_in.base_url}/accounts/{ACCOUNT}/queues/{queue_id}/messages/ack",
                      json={"acks": [], "retries": []}, headers={"Authorization": "Bearer x"}).json()
    assert body["result"] == {"ackCount": 0, "retryCount": 0, "warnings": {}}


def test_an_expired_lease_is_delivered_again_with_attempts_counting_it(sdk, queue_id, clock):
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    first = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, visibility_timeout_ms=1_000).messages[0]
    clock.advance(1_001)
    second = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, visibility_timeout_ms=1_000).messages[0]
    assert (second.id, second.attempts) == (first.id, 2) and second.lease_id != first.lease_id


def test_peek_shows_messages_with_refs_without_leasing(sdk, queue_id):
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="look", content_type="text")
    (peeked,) = sdk.queues.messages.peek(queue_id, account_id=ACCOUNT, batch_size=5).messages
    assert (peeked.body, peeked.attempts) == ("look", 0) and peeked.ref
    (pulled,) = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT).messages
    assert pulled.id == peeked.id and pulled.attempts == 1


def test_purge_by_ref_deletes_peeked_messages(stand_in, sdk, queue_id):
    if not hasattr(stand_in.service.store, "delete_messages"):
        pytest.skip("EmbeddedStore.delete_messages (requested in shim-interfaces.md) has not landed")
    sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
        {"body": "gone", "content_type": "text"}, {"body": "kept", "content_type": "text"}])
    refs = {m.body: m.ref for m in sdk.queues.messages.peek(queue_id, account_id=ACCOUNT, batch_size=5).messages}
    answer = sdk.queues.messages.purge(queue_id, account_id=ACCOUNT, refs=[{"ref": refs["gone"]}, {"ref": "nope"}])
    assert list(answer.warnings or {}) == ["nope"]
    assert [m.body for m in sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=5).messages] == ["kept"]


def test_stats_endpoint_counts_requests_per_endpoint(stand_in, sdk, queue_id):
    stand_in.reset_request_counts()
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    sdk.queues.messages.pull(queue_id, account_id=ACCOUNT)
    sdk.queues.messages.pull(queue_id, account_id=ACCOUNT)
    stats = httpx.get(f"http://127.0.0.1:{stand_in.port}{STATS_PATH}").json()
    assert stats["requests"] == {"messages.push": 1, "messages.pull": 2}
    assert stats["total"] == 3


def test_connections_are_kept_alive(stand_in, sdk, queue_id):
    with httpx.Client(headers={"Authorization": "Bearer x"}) as client:
        first = client.get(f"{stand_in.base_url}/accounts/{ACCOUNT}/queues")
        second = client.get(f"{stand_in.base_url}/accounts/{ACCOUNT}/queues")
    assert first.http_version == second.http_version == "HTTP/1.1"
    assert first.headers.get("connection", "").lower() != "close"
