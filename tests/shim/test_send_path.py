"""The fast parts of ``.delay()``: the argument check (Celery's messages, compared with Celery 5.7), the
task ids (``str(uuid.uuid4())``'s shape), and the body written field by field (the same text as the wire
object encoded whole, with or without publish signal handlers)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from cfq_shim import Celery
from cfq_shim.envelope import Envelope, encode
from cfq_shim.exceptions import EncodeError
from cfq_shim.sending.message import new_task_id

CALLS = [((1,), {}), ((1, 2, 3), {}), ((1,), {"z": 2}), ((), {"x": 1, "y": 2}), ((1, 2), {})]


def _messages(celery_class, **app_options):
    app = celery_class("argcheck", **app_options)

    @app.task
    def add(x, y):
        return x + y

    @app.task(bind=True)
    def bound(self, a, /, b=1, *rest, key, **extra):
        return a

    outcomes = []
    for task, calls in ((add, CALLS), (bound, [((), {}), ((1,), {}), ((1,), {"key": 2}), ((1, 2, 3), {"key": 1, "q": 0})])):
        for args, kwargs in calls:
            try:
                task.apply_async(args, kwargs)  # the check runs before anything is sent
                outcomes.append("ok")
            except TypeError as exc:
                outcomes.append(str(exc))
    return outcomes


def test_argument_errors_read_as_celerys():
    celery = pytest.importorskip("celery")
    shim = _messages(Celery, broker="memory://")
    reference = _messages(celery.Celery, broker="memory://")
    assert shim == reference
    assert "add() missing 1 required positional argument: 'y'" in shim


def test_task_ids_are_version_4_uuids_as_text():
    ids = {new_task_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in list(ids)[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


# -- the body: written field by field, the same text as the wire object encoded whole -----------------------
def _whole_object_text(envelope):
    """The reference: the wire object built as a dict and encoded in one go by the stdlib encoder."""
    from cfq_shim.envelope import ENVELOPE_VERSION, _encoder, _iso

    wire = {
        "v": ENVELOPE_VERSION, "id": envelope.id, "task": envelope.task, "args": envelope.args,
        "kwargs": envelope.kwargs, "queue": envelope.queue, "retries": envelope.retries,
        "eta": _iso(envelope.eta), "expires": _iso(envelope.expires), "root_id": envelope.root_id,
        "parent_id": envelope.parent_id, "group_id": envelope.group_id, "headers": envelope.headers,
        "callbacks": envelope.callbacks, "errbacks": envelope.errbacks,
    }
    if envelope.time_limit is not None or envelope.soft_time_limit is not None:
        wire["time_limit"], wire["soft_time_limit"] = envelope.time_limit, envelope.soft_time_limit
    return _encoder.encode(wire)


ENVELOPES = [
    dict(id=new_task_id(), task="proj.add", args=[1, 2], kwargs={}),
    dict(id='quote " back \\ slash', task="tâche.名前\n", args=[], kwargs={"é": "\u2028", "n": None}, queue="q\t1"),
    dict(id="i", task="t", args=[1.5, -0.0, 10**30, True, None, [], {}], kwargs={"nested": {"a": [1, {"b": ()}]}},
         retries=3, root_id="r", parent_id="p", group_id="g", headers={"h": 1, "x": [None]},
         callbacks=[{"task": "a", "args": []}], errbacks=[{"task": "b"}]),
    dict(id="i", task="t", eta=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
         expires=datetime(2026, 1, 2, 3, 4, 5), time_limit=10, soft_time_limit=2.5),
    dict(id="i", task="t", time_limit=None, soft_time_limit=5),
    dict(id="i", task="t", args=[uuid.UUID(int=7), b"\xff", Decimal("1.10"), date(2026, 1, 2)],
         kwargs={"when": datetime(2026, 1, 2, tzinfo=timezone.utc)}),
    dict(id=uuid.UUID(int=9), task="t", retries=True),  # odd types take the general encoder, as before
]


@pytest.mark.parametrize("fields", ENVELOPES)
def test_body_is_the_wire_object_encoded_whole(fields):
    envelope = Envelope(**fields)
    assert encode(envelope) == _whole_object_text(envelope)


def test_a_refused_argument_leaves_the_encoder_ready_for_the_next_send():
    looped: list = []
    looped.append(looped)
    with pytest.raises(EncodeError, match="Circular reference"):
        encode(Envelope(id="i", task="proj.t", args=[looped]))
    args = [{"a": [1]}, object()]
    with pytest.raises(EncodeError, match="object is not JSON serializable"):
        encode(Envelope(id="i", task="proj.t", args=args))
    args.pop()
    # The failed encode was inside ``args`` when it stopped; its circular-reference mark was cleared.
    assert json.loads(encode(Envelope(id="i", task="proj.t", args=args)))["args"] == [{"a": [1]}]


def test_delay_sends_the_same_body_with_and_without_publish_handlers():
    from cfq_shim import signals

    app = Celery("bodies", broker="memory://")

    @app.task
    def add(x, y):
        return x + y

    def sent_bodies():
        bodies = []
        app.producer.send = lambda queue, body, delay_seconds=0: bodies.append((queue, body, delay_seconds))
        for options in ({}, {"countdown": 30}, {"expires": 60, "headers": {"h": "v"}, "time_limit": 5}):
            add.apply_async((1, 2), task_id="fixed-id", **options)
        return bodies

    plain = sent_bodies()

    def handler(**kwargs):
        pass

    signals.before_task_publish.connect(handler)
    try:
        observed = sent_bodies()
    finally:
        signals.before_task_publish.disconnect(handler)
    strip = [(queue, _without_times(body), delay) for queue, body, delay in plain]
    assert strip == [(queue, _without_times(body), delay) for queue, body, delay in observed]
    assert [delay for _, _, delay in plain] == [0, 30, 0]


def _without_times(body: str) -> dict:
    """The body with eta/expires (read from the clock at each send) reduced to whether they are set."""
    wire = json.loads(body)
    return {**wire, "eta": wire["eta"] is not None, "expires": wire["expires"] is not None}


def test_always_eager_is_read_again_whenever_the_settings_change():
    from cfq_shim.result import EagerResult

    app = Celery("eagerness", broker="memory://")

    @app.task
    def add(x, y):
        return x + y

    assert not isinstance(add.delay(1, 2), EagerResult)
    app.conf.task_always_eager = True
    assert add.delay(1, 2).get() == 3 and isinstance(add.delay(1, 2), EagerResult)
    app.conf.update(task_always_eager=False)
    assert not isinstance(add.delay(1, 2), EagerResult)

    class Settings:
        task_always_eager = True

    app.config_from_object(Settings)  # read lazily, on the next look at the settings
    assert isinstance(add.delay(1, 2), EagerResult)
    app.close()
