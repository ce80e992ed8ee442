"""Signals mirror Celery's Signal API (connect, sender filtering, weak refs, dispatch_uid, send)."""

from __future__ import annotations

import gc

import pytest

from cfq_shim import signals
from cfq_shim.signals import Signal


def test_connect_as_decorator_and_as_call():
    signal = Signal(name="test")
    calls = []

    @signal.connect
    def bare(sender=None, **kwargs):
        calls.append(("bare", sender, kwargs["value"]))

    @signal.connect(weak=False)
    def with_options(sender=None, **kwargs):
        calls.append(("options", sender, kwargs["value"]))

    def plain(sender=None, **kwargs):
        calls.append(("plain", sender, kwargs["value"]))

    signal.connect(plain)
    responses = signal.send(sender="s", value=1)
    assert calls == [("bare", "s", 1), ("options", "s", 1), ("plain", "s", 1)]
    assert [receiver for receiver, _ in responses] == [bare, with_options, plain]


def test_send_returns_results_and_keeps_going_after_a_raising_receiver(caplog):
    signal = Signal(name="test")

    def fails(**kwargs):
        raise RuntimeError("handler bug")

    def answers(**kwargs):
        return 42

    signal.connect(fails)
    signal.connect(answers)
    responses = signal.send(sender=None)
    assert isinstance(responses[0][1], RuntimeError) and responses[1] == (answers, 42)
    assert "handler bug" in caplog.text


def test_sender_filtering():
    signal = Signal(name="test")
    seen = []
    task_a, task_b = object(), object()

    def only_a(sender=None, **kwargs):
        seen.append(sender)

    signal.connect(only_a, sender=task_a)
    signal.send(sender=task_b)
    signal.send(sender=task_a)
    assert seen == [task_a]


def test_weak_receivers_go_away_and_strong_ones_stay():
    signal = Signal(name="test")

    def make():
        def receiver(**kwargs):
            return "alive"
        return receiver

    signal.connect(make())
    signal.connect(make(), weak=False)
    gc.collect()
    assert [result for _, result in signal.send(sender=None)] == ["alive"]
    assert len(signal.receivers) == 1  # the dead one was dropped


def test_dispatch_uid_connects_once_and_disconnects():
    signal = Signal(name="test")

    def first(**kwargs):
        return 1

    def second(**kwargs):
        return 2

    signal.connect(first, dispatch_uid="uid")
    signal.connect(second, dispatch_uid="uid")
    assert [r for _, r in signal.send(sender=None)] == [1]
    assert signal.disconnect(dispatch_uid="uid") is True
    assert signal.send(sender=None) == []


def test_receiver_must_take_kwargs():
    with pytest.raises(ValueError, match="keyword arguments"):
        Signal(name="test").connect(lambda sender: None)


def test_every_celery_signal_name_exists():
    import celery.signals

    for name in celery.signals.__all__:
        assert isinstance(getattr(signals, name), Signal), name


def test_before_and_after_task_publish(tmp_path):
    from cfq_shim import Celery
    from cfq_shim.envelope import decode

    app = Celery("pub", broker="memory://")

    @app.task
    def job(x):
        pass

    seen = []

    @signals.before_task_publish.connect
    def add_header(sender=None, headers=None, body=None, routing_key=None, **kwargs):
        seen.append(("before", sender, headers["id"], headers["task"], body[0], routing_key))
        headers["trace"] = "t-1"

    @signals.after_task_publish.connect
    def after(sender=None, headers=None, **kwargs):
        seen.append(("after", sender, headers["id"]))

    try:
        result = job.delay(5)
    finally:
        signals.before_task_publish.disconnect(add_header)
        signals.after_task_publish.disconnect(after)
    assert seen == [("before", job.name, result.id, job.name, [5], "celery"), ("after", job.name, result.id)]
    [message] = app.transport.pull("celery", batch_size=1, visibility_timeout_ms=1000)
    assert decode(message.body).headers == {"trace": "t-1"}
