"""The envelope: kombu-compatible JSON values, versioning, send-time errors, decode reasons."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from cfq_shim.envelope import ENVELOPE_VERSION, Envelope, EnvelopeError, decode, dumps, encode, loads
from cfq_shim.exceptions import EncodeError
from cfq_shim.limits import DEFAULT_LIMITS


def make(**changes):
    fields = dict(id="id-1", task="proj.add", args=[1, 2], kwargs={"k": "v"}, queue="celery")
    fields.update(changes)
    return Envelope(**fields)


def test_round_trip_keeps_every_field():
    eta = datetime(2026, 11, 27, 22, 0, tzinfo=timezone.utc)
    original = make(
        retries=2, eta=eta, expires=eta + timedelta(hours=1), root_id="r", parent_id="p", group_id="g",
        headers={"h": 1}, callbacks=[{"task": "a"}], errbacks=[{"task": "b"}], time_limit=10, soft_time_limit=5,
    )
    assert decode(encode(original)) == original


def test_wire_format_is_versioned_json_text():
    wire = json.loads(encode(make()))
    assert wire["v"] == ENVELOPE_VERSION
    assert wire["task"] == "proj.add" and wire["args"] == [1, 2]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        datetime(2026, 1, 2, 3, 4, 5),
        date(2026, 1, 2),
        time(3, 4, 5),
        Decimal("1.10"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        b"bytes",
        b"\xff\xfe",
    ],
)
def test_extra_types_round_trip_like_kombu(value):
    assert loads(dumps([value])) == [value]
    envelope = decode(encode(make(args=[value], kwargs={"v": value})))
    assert envelope.args == [value] and envelope.kwargs == {"v": value}


def test_extra_types_use_kombus_markers():
    from kombu.utils.json import dumps as kombu_dumps, loads as kombu_loads

    value = {"when": datetime(2026, 1, 2, tzinfo=timezone.utc), "d": Decimal("2.5"), "u": uuid.uuid4(), "day": date(2026, 1, 2)}
    assert json.loads(dumps(value)) == json.loads(kombu_dumps(value))
    assert kombu_loads(dumps(value)) == value


def test_naive_eta_is_taken_as_utc():
    envelope = decode(encode(make(eta=datetime(2026, 1, 2, 3, 4))))
    assert envelope.eta == datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)


def test_unencodable_argument_names_the_task():
    with pytest.raises(EncodeError, match=r"proj\.add.*JSON.*object"):
        encode(make(args=[object()]))


def test_nan_is_refused():
    with pytest.raises(EncodeError, match="proj.add"):
        encode(make(args=[float("nan")]))


def test_oversized_message_names_task_and_size():
    big = "x" * (DEFAULT_LIMITS.max_body_bytes + 1)
    with pytest.raises(EncodeError, match=r"proj\.add.*\d+ bytes.*over the %d-byte limit" % DEFAULT_LIMITS.max_body_bytes):
        encode(make(args=[big]))


def test_size_counts_utf8_bytes_not_characters():
    envelope = make(args=["é" * 100])
    size = len(encode(envelope).encode("utf-8"))
    assert size == len(encode(envelope)) + 100
    exact = DEFAULT_LIMITS.with_overrides(max_message_bytes=size, message_metadata_bytes=0)
    assert encode(envelope, limits=exact)
    one_short = DEFAULT_LIMITS.with_overrides(max_message_bytes=size - 1, message_metadata_bytes=0)
    with pytest.raises(EncodeError, match=f"{size} bytes"):
        encode(envelope, limits=one_short)


@pytest.mark.parametrize(
    "body, reason",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON list"),
        ('{"v": 99, "id": "x", "task": "t", "queue": "q"}', "version 99"),
        ('{"v": 1, "task": "t", "queue": "q"}', "'id'"),
        ('{"v": 1, "id": "x", "queue": "q"}', "'task'"),
        ('{"v": 1, "id": "x", "task": "t", "queue": "q", "args": {}}', "'args'"),
        ('{"v": 1, "id": "x", "task": "t", "queue": "q", "kwargs": []}', "'kwargs'"),
        ('{"v": 1, "id": "x", "task": "t", "queue": "q", "eta": "tomorrow"}', "'eta'"),
        ('{"v": 1, "id": "x", "task": "t", "queue": "q", "retries": -1}', "'retries'"),
        ('{"v": 1, "id": "x", "task": "t", "queue": "q", "args": [{"__type__": "pickle", "__value__": ""}]}', "pickle"),
    ],
)
def test_decode_says_why_a_body_cannot_run(body, reason):
    with pytest.raises(EnvelopeError, match=reason):
        decode(body)


def test_envelope_error_is_a_value_error():
    assert issubclass(EnvelopeError, ValueError)


def test_a_decoded_envelope_has_every_field_and_stays_frozen():
    # decode() fills the instance without the dataclass's __init__ (speed): a field added to Envelope
    # must be read by decode() too, or it would be missing rather than defaulted.
    import dataclasses

    sent = Envelope(id="t-1", task="proj.add", args=[1], kwargs={"b": 2}, queue="q", time_limit=3.0)
    received = decode(encode(sent))
    assert set(vars(received)) == {f.name for f in dataclasses.fields(Envelope)}
    assert received == sent
    with pytest.raises(dataclasses.FrozenInstanceError):
        received.id = "other"  # type: ignore[misc]
