"""Every error the stand-in answers, as the official SDK sees it: exception class, HTTP status, error code."""

from __future__ import annotations

import base64

import cloudflare
import httpx
import pytest
from stand_in_support import ACCOUNT, SECRET_TOKEN, start_stand_in, stop_stand_in

from cfq_shim.limits import DEFAULT_LIMITS


def error_of(exc_info: pytest.ExceptionInfo) -> tuple[int, int]:
    """(HTTP status, Cloudflare error code) of an SDK exception."""
    exc = exc_info.value
    assert exc.body["success"] is False and exc.body["result"] is None
    return exc.status_code, exc.errors[0].code


def test_unknown_queue_is_404_10104(sdk):
    with pytest.raises(cloudflare.NotFoundError) as caught:
        sdk.queues.messages.push("a" * 32, account_id=ACCOUNT, body="x", content_type="text")
    assert error_of(caught) == (404, 10104)


def test_malformed_queue_id_is_400_10107(sdk):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.get("not-an-id", account_id=ACCOUNT)
    assert error_of(caught) == (400, 10107)


@pytest.mark.parametrize("delay", [-1, DEFAULT_LIMITS.max_delay_seconds + 1, 1.5])
def test_bad_delay_is_400_10202(sdk, queue_id, delay):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text", delay_seconds=delay)
    assert error_of(caught) == (400, 10202)


def test_bad_retry_delay_is_400_10202_and_settles_nothing(sdk, queue_id):
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    (message,) = sdk.queues.messages.pull(queue_id, account_id=ACCOUNT).messages
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.messages.ack(queue_id, account_id=ACCOUNT, acks=[{"lease_id": message.lease_id}],
                                retries=[{"lease_id": "b" * 32, "delay_seconds": DEFAULT_LIMITS.max_delay_seconds + 1}])
    assert error_of(caught) == (400, 10202)
    assert sdk.queues.messages.ack(queue_id, account_id=ACCOUNT, acks=[{"lease_id": message.lease_id}]).ack_count == 1


@pytest.mark.parametrize("body", [
    {"content_type": "xml", "body": "x"},
    {"content_type": "bytes", "body": "not base64!"},
    {"content_type": ["text"], "body": "x"},  # not a string: a 400, not a 500 from an unhashable lookup
])
def test_bad_content_type_or_body_is_400_10203(sdk, queue_id, body):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[body])
    assert error_of(caught) == (400, 10203)


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"batch_size": DEFAULT_LIMITS.max_pull_batch_size + 1},
                                     {"visibility_timeout_ms": DEFAULT_LIMITS.max_visibility_timeout_ms + 1}])
def test_bad_pull_options_are_400_10203(sdk, queue_id, options):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, **options)
    assert error_of(caught) == (400, 10203)


def test_message_too_large_is_400_10204_and_stores_nothing(sdk, queue_id):
    body = "x" * (DEFAULT_LIMITS.max_body_bytes + 1)
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body=body, content_type="text")
    assert error_of(caught) == (400, 10204)
    # The largest body that fits is accepted.
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body=body[:-1], content_type="text")
    assert sdk.queues.get_metrics(queue_id, account_id=ACCOUNT).backlog_count == 1


def test_batch_over_the_byte_limit_is_400_10205_all_or_none(sdk, queue_id):
    per_message = DEFAULT_LIMITS.max_batch_bytes // 2  # three of these exceed the batch limit
    messages = [{"body": "y" * (per_message - DEFAULT_LIMITS.message_metadata_bytes), "content_type": "text"}] * 3
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=messages)
    assert error_of(caught) == (400, 10205)
    assert sdk.queues.get_metrics(queue_id, account_id=ACCOUNT).backlog_count == 0


def test_batch_over_the_count_limit_is_400_10206(sdk, queue_id):
    messages = [{"body": "z", "content_type": "text"}] * (DEFAULT_LIMITS.max_batch_messages + 1)
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=messages)
    assert error_of(caught) == (400, 10206)
    assert sdk.queues.get_metrics(queue_id, account_id=ACCOUNT).backlog_count == 0


def test_invalid_json_is_400_10207_and_wrong_shape_400_10208(stand_in, queue_id):
    url = f"{stand_in.base_url}/accounts/{ACCOUNT}/queues/{queue_id}/messages/batch"
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
    broken = httpx.post(url, content=b'{"messages": [', headers=headers)
    assert (broken.status_code, broken.json()["errors"][0]["code"]) == (400, 10207)
    wrong = httpx.post(url, json={"messages": "not a list"}, headers=headers)
    assert (wrong.status_code, wrong.json()["errors"][0]["code"]) == (400, 10208)


def test_throughput_above_the_per_queue_limit_is_429_10250_until_the_next_second(sdk, queue_id, clock):
    limit = DEFAULT_LIMITS.max_messages_per_second
    batch = [{"body": "m", "content_type": "text"}] * DEFAULT_LIMITS.max_batch_messages
    for _ in range(limit // DEFAULT_LIMITS.max_batch_messages):
        sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=batch)
    with pytest.raises(cloudflare.RateLimitError) as caught:
        sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="one too many", content_type="text")
    assert error_of(caught) == (429, 10250)
    assert caught.value.response.headers["retry-after"] == "1"
    clock.advance(1_000)
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="next second", content_type="text")


def test_a_refused_push_does_not_use_up_the_throughput_limit(tmp_path, clock):
    limits = DEFAULT_LIMITS.with_overrides(max_messages_per_second=2)
    server = start_stand_in(tmp_path / "slow.sqlite3", clock=clock, limits=limits)
    try:
        sdk = cloudflare.Cloudflare(api_token="any-token", base_url=server.base_url, max_retries=0)
        queue_id = sdk.queues.create(account_id=ACCOUNT, queue_name="q").queue_id
        too_large = "x" * limits.max_body_bytes + "x"
        with pytest.raises(cloudflare.BadRequestError) as caught:
            sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
                {"body": "fine", "content_type": "text"}, {"body": too_large, "content_type": "text"}])
        assert error_of(caught) == (400, 10204)
        # Nothing was stored, so the second's two messages are still there to send.
        sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
            {"body": "a", "content_type": "text"}, {"body": "b", "content_type": "text"}])
        assert sdk.queues.get_metrics(queue_id, account_id=ACCOUNT).backlog_count == 2
        sdk.close()
    finally:
        stop_stand_in(server)


def test_full_backlog_is_429_10251(tmp_path, clock):
    limits = DEFAULT_LIMITS.with_overrides(max_backlog_bytes=1_000)
    server = start_stand_in(tmp_path / "small.sqlite3", clock=clock, limits=limits)
    try:
        client = cloudflare.Cloudflare(api_token="t", base_url=server.base_url, max_retries=0)
        queue = client.queues.create(account_id=ACCOUNT, queue_name="small")
        with pytest.raises(cloudflare.RateLimitError) as caught:
            client.queues.messages.push(queue.queue_id, account_id=ACCOUNT, body="b" * 2_000, content_type="text")
        assert error_of(caught) == (429, 10251)
        client.close()
    finally:
        stop_stand_in(server)


def test_pull_from_a_paused_queue_is_409_10252(sdk, queue_id):
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    sdk.queues.edit(queue_id, account_id=ACCOUNT, settings={"delivery_paused": True})
    with pytest.raises(cloudflare.ConflictError) as caught:
        sdk.queues.messages.pull(queue_id, account_id=ACCOUNT)
    assert error_of(caught) == (409, 10252)
    assert "queue_delivery_paused" in caught.value.errors[0].message
    # Pushing to a paused queue still works; resuming delivers.
    sdk.queues.messages.push(queue_id, account_id=ACCOUNT, body="y", content_type="text")
    sdk.queues.edit(queue_id, account_id=ACCOUNT, settings={"delivery_paused": False})
    assert len(sdk.queues.messages.pull(queue_id, account_id=ACCOUNT, batch_size=10).messages) == 2


def test_taken_queue_name_is_409_11009(sdk, queue_id):
    with pytest.raises(cloudflare.ConflictError) as caught:
        sdk.queues.create(account_id=ACCOUNT, queue_name="work")
    assert error_of(caught) == (409, 11009)


@pytest.mark.parametrize("name", ["Upper", "has.dot", "under_score", "-edge", "x" * 64])
def test_queue_names_cloudflare_rejects_are_400_10203(sdk, name):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.create(account_id=ACCOUNT, queue_name=name)
    assert error_of(caught) == (400, 10203)


def test_second_http_pull_consumer_is_409_and_unknown_consumer_404(sdk, queue_id):
    sdk.queues.consumers.create(queue_id, account_id=ACCOUNT, type="http_pull")
    with pytest.raises(cloudflare.ConflictError) as caught:
        sdk.queues.consumers.create(queue_id, account_id=ACCOUNT, type="http_pull")
    assert error_of(caught) == (409, 11010)
    with pytest.raises(cloudflare.NotFoundError) as missing:
        sdk.queues.consumers.delete("c" * 32, account_id=ACCOUNT, queue_id=queue_id)
    assert error_of(missing) == (404, 11011)


def test_worker_consumers_are_refused_with_400(sdk, queue_id):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.queues.consumers.create(queue_id, account_id=ACCOUNT, type="worker", script_name="my-worker")
    assert error_of(caught) == (400, 10203)


def test_internal_errors_are_500_15000_and_the_sdk_retries_them(stand_in, queue_id):
    stand_in.fail_next("messages.push", status=500, code=15000, count=1)
    retrying = cloudflare.Cloudflare(api_token="t", base_url=stand_in.base_url, max_retries=1)
    retrying.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    assert stand_in.request_counts()["messages.push"] == 2
    stand_in.fail_next("messages.push", status=500, code=15000, count=1)
    strict = cloudflare.Cloudflare(api_token="t", base_url=stand_in.base_url, max_retries=0)
    with pytest.raises(cloudflare.InternalServerError) as caught:
        strict.queues.messages.push(queue_id, account_id=ACCOUNT, body="x", content_type="text")
    assert error_of(caught) == (500, 15000)


def test_unknown_route_is_404(stand_in):
    answer = httpx.get(f"{stand_in.base_url}/accounts/{ACCOUNT}/workers", headers={"Authorization": "Bearer x"})
    assert answer.status_code == 404 and answer.json()["success"] is False


def test_wrong_or_missing_token_is_401_10106_when_a_token_is_required(tmp_path, clock):
    server = start_stand_in(tmp_path / "auth.sqlite3", clock=clock, token=SECRET_TOKEN)
    try:
        wrong = cloudflare.Cloudflare(api_token="wrong", base_url=server.base_url, max_retries=0)
        with pytest.raises(cloudflare.AuthenticationError) as caught:
            wrong.queues.create(account_id=ACCOUNT, queue_name="q")
        assert error_of(caught) == (401, 10106)
        assert SECRET_TOKEN not in str(caught.value.body)
        missing = httpx.get(f"{server.base_url}/accounts/{ACCOUNT}/queues")
        assert (missing.status_code, missing.json()["errors"][0]["code"]) == (401, 10106)
        right = cloudflare.Cloudflare(api_token=SECRET_TOKEN, base_url=server.base_url, max_retries=0)
        assert right.queues.create(account_id=ACCOUNT, queue_name="q").queue_name == "q"
    finally:
        stop_stand_in(server)


def test_bytes_are_counted_decoded_against_the_size_limit(sdk, queue_id):
    # A base64 body is a third longer than the bytes it carries; the limit counts the bytes.
    raw = b"\xff" * (DEFAULT_LIMITS.max_body_bytes - 10)
    sdk.queues.messages.bulk_push(queue_id, account_id=ACCOUNT, messages=[
        {"body": base64.b64encode(raw).decode(), "content_type": "bytes"}])
    assert sdk.queues.get_metrics(queue_id, account_id=ACCOUNT).backlog_count == 1


@pytest.mark.parametrize("length", ["abc", "-1", "\u00b2"])
def test_a_malformed_content_length_is_400_not_a_traceback_or_a_hang(stand_in, length):
    # httpx never sends such a header: speak HTTP by hand. The timeout is only a safety net for the
    # hang a negative length used to cause (the server read until the client closed).
    import socket

    with socket.create_connection(("127.0.0.1", stand_in.port), timeout=5) as conn:
        conn.sendall(f"POST /client/v4/accounts/{ACCOUNT}/queues HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Bearer x\r\nContent-Length: {length}\r\n\r\n".encode("latin-1"))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


def test_creating_a_queue_past_the_account_limit_is_400_10203(tmp_path, clock):
    server = start_stand_in(tmp_path / "full.sqlite3", clock=clock,
                            limits=DEFAULT_LIMITS.with_overrides(max_queues=2))
    try:
        sdk = cloudflare.Cloudflare(api_token="any-token", base_url=server.base_url, max_retries=0)
        sdk.queues.create(account_id=ACCOUNT, queue_name="one")
        sdk.queues.create(account_id=ACCOUNT, queue_name="two")
        with pytest.raises(cloudflare.BadRequestError) as caught:
            sdk.queues.create(account_id=ACCOUNT, queue_name="three")
        assert error_of(caught) == (400, 10203)
        assert "2 queues" in str(caught.value)
        assert [q.queue_name for q in sdk.queues.list(account_id=ACCOUNT)] == ["one", "two"]
        sdk.close()
    finally:
        stop_stand_in(server)
