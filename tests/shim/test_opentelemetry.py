"""OpenTelemetry: the publish span's context travels in the message headers, so the run span in a real
worker process is its child, and a task sent from a task continues the same trace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the opentelemetry-sdk test dependency is not installed")

PROJECT = '''
import os

from cfq_shim import Celery

app = Celery("proj", broker=os.environ["TEST_BROKER"])


@app.task
def child(x):
    return x * 2


@app.task
def parent(x):
    return child.delay(x).id


@app.task
def failing():
    raise ValueError("boom")


if os.environ.get("SPANS_OUT"):  # the worker process: spans go to a file, one JSON document per line
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider()
    out = open(os.environ["SPANS_OUT"], "a")
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
        out=out, formatter=lambda span: span.to_json(indent=None) + "\\n")))
    trace.set_tracer_provider(provider)

    from cfq_shim.contrib.opentelemetry import instrument

    instrument()
'''


def _hex(number: int, width: int) -> str:
    return f"0x{number:0{width}x}"


def _worker_spans(path: Path, want: set[str], timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        spans = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    span = json.loads(line)
                    spans[span["name"]] = span
        if want <= set(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


def test_trace_goes_from_the_sender_through_a_real_worker(tmp_path: Path, monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from cfq_shim.contrib import opentelemetry as otel

    (tmp_path / "proj.py").write_text(textwrap.dedent(PROJECT))
    broker = f"sqlite:///{tmp_path / 'queues.sqlite3'}"
    spans_out = tmp_path / "worker-spans.jsonl"
    monkeypatch.setenv("TEST_BROKER", broker)
    monkeypatch.syspath_prepend(str(tmp_path))

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    try:
        import proj

        with provider.get_tracer("test").start_as_current_span("GET /orders"):
            proj.parent.delay(21)
            proj.failing.delay()
    finally:
        otel.uninstrument()
        sys.modules.pop("proj", None)
    local = {span.name: span for span in exporter.get_finished_spans()}
    request, publish = local["GET /orders"], local["publish proj.parent"]
    assert publish.parent.span_id == request.context.span_id

    worker = subprocess.Popen(
        [sys.executable, "-m", "cfq_shim", "-A", "proj", "worker", "-P", "threads", "-c", "1"],
        cwd=tmp_path, env={**os.environ, "SPANS_OUT": str(spans_out), "TEST_BROKER": broker},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        spans = _worker_spans(spans_out, {"run proj.parent", "publish proj.child", "run proj.child", "run proj.failing"},
                              timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0]
    assert {"run proj.parent", "publish proj.child", "run proj.child", "run proj.failing"} <= set(spans), output

    trace_id = _hex(request.context.trace_id, 32)
    run_parent, publish_child, run_child = spans["run proj.parent"], spans["publish proj.child"], spans["run proj.child"]
    assert run_parent["context"]["trace_id"] == trace_id
    assert run_parent["parent_id"] == _hex(publish.context.span_id, 16)
    assert run_parent["kind"] == "SpanKind.CONSUMER"
    assert run_parent["attributes"]["messaging.system"] == "cloudflare_queues"
    assert run_parent["attributes"]["celery.state"] == "SUCCESS"
    assert publish_child["parent_id"] == run_parent["context"]["span_id"]
    assert run_child["parent_id"] == publish_child["context"]["span_id"]
    assert run_child["context"]["trace_id"] == trace_id
    failing = spans["run proj.failing"]
    assert failing["status"]["status_code"] == "ERROR"
    assert failing["events"][0]["name"] == "exception"
    assert failing["context"]["trace_id"] == trace_id


def test_instrument_is_idempotent_and_uninstrument_disconnects():
    from cfq_shim import signals
    from cfq_shim.contrib import opentelemetry as otel

    before = len(signals.task_prerun.receivers)
    otel.instrument()
    otel.instrument()
    assert len(signals.task_prerun.receivers) == before + 1 and otel.is_instrumented()
    otel.uninstrument()
    assert len(signals.task_prerun.receivers) == before and not otel.is_instrumented()
