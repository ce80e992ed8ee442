"""OpenTelemetry spans for publishing and running tasks, with the trace context carried in the
message headers, so one trace goes from the web request that sends a task to the task's run.

    from cfq_shim.contrib.opentelemetry import instrument
    instrument()                      # in the web process and in the worker (e.g. in the app module)

- ``publish <task>`` (kind PRODUCER) starts in ``before_task_publish``, whose ``headers`` are the
  envelope's: the W3C ``traceparent``/``tracestate`` of that span are injected there through the
  globally configured propagator, and travel with the message; it ends in ``after_task_publish``.
- ``run <task>`` (kind CONSUMER) starts in ``task_prerun`` from the context extracted from
  ``task.request.headers``, so it is the publish span's child, and is the current span while the task
  runs (a task that sends another task makes a grandchild); a failure records the exception and an
  ERROR status; a retry is an event; it ends in ``task_postrun``.

Attributes follow the messaging conventions: ``messaging.system = "cloudflare_queues"``,
``messaging.destination.name`` (the queue), ``messaging.message.id`` (the task id), plus
``celery.task_name`` and ``celery.state``, as opentelemetry-instrumentation-celery names them.

Only the OpenTelemetry API is needed (``pip install 'celery2cfq[opentelemetry]'``); the SDK, exporter
and propagator are the application's, configured as usual. Without an SDK the API's no-op tracer makes
this cost nearly nothing.
"""

from __future__ import annotations

import threading
from typing import Any

from .. import signals

__all__ = ["instrument", "uninstrument", "is_instrumented"]

_SYSTEM = "cloudflare_queues"
_lock = threading.Lock()
_state: dict[str, Any] = {}
#: task id -> the publish span, between before_ and after_task_publish (same thread)
_publishing: dict[str, Any] = {}
#: task id -> (run span, context token), between task_prerun and task_postrun
_running: dict[str, Any] = {}


def is_instrumented() -> bool:
    return bool(_state)


def instrument(tracer_provider: Any = None) -> None:
    """Connect the span handlers to the task signals (once; a second call changes nothing)."""
    from opentelemetry import trace

    with _lock:
        if _state:
            return
        _state["tracer"] = trace.get_tracer("cfq_shim", tracer_provider=tracer_provider)
        signals.before_task_publish.connect(_before_publish, weak=False)
        signals.after_task_publish.connect(_after_publish, weak=False)
        signals.task_prerun.connect(_prerun, weak=False)
        signals.task_failure.connect(_failure, weak=False)
        signals.task_retry.connect(_retry, weak=False)
        signals.task_postrun.connect(_postrun, weak=False)


def uninstrument() -> None:
    with _lock:
        if not _state:
            return
        signals.before_task_publish.disconnect(_before_publish)
        signals.after_task_publish.disconnect(_after_publish)
        signals.task_prerun.disconnect(_prerun)
        signals.task_failure.disconnect(_failure)
        signals.task_retry.disconnect(_retry)
        signals.task_postrun.disconnect(_postrun)
        _state.clear()


def _before_publish(sender: Any = None, headers: dict | None = None, routing_key: str = "", **_: Any) -> None:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    if headers is None:
        return
    task_id = headers.get("id")
    span = _state["tracer"].start_span(
        f"publish {sender}", kind=SpanKind.PRODUCER,
        attributes={"messaging.system": _SYSTEM, "messaging.operation": "publish",
                    "messaging.destination.name": routing_key, "messaging.message.id": str(task_id),
                    "celery.task_name": str(sender)},
    )
    propagate.inject(headers, context=trace.set_span_in_context(span))
    if task_id is not None:
        _publishing[task_id] = span
    else:
        span.end()


def _after_publish(sender: Any = None, headers: dict | None = None, **_: Any) -> None:
    span = _publishing.pop((headers or {}).get("id"), None)
    if span is not None:
        span.end()


def _prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **_: Any) -> None:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import SpanKind

    request = getattr(task, "request", None)
    carrier = dict(getattr(request, "headers", None) or {})
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key") or ""
    parent = propagate.extract(carrier)
    span = _state["tracer"].start_span(
        f"run {getattr(task, 'name', sender)}", context=parent, kind=SpanKind.CONSUMER,
        attributes={"messaging.system": _SYSTEM, "messaging.operation": "process",
                    "messaging.destination.name": str(queue),
                    "messaging.message.id": str(task_id), "celery.task_name": str(getattr(task, "name", sender))},
    )
    token = context.attach(trace.set_span_in_context(span))
    _running[task_id] = (span, token)


def _failure(sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **_: Any) -> None:
    from opentelemetry.trace import Status, StatusCode

    entry = _running.get(task_id)
    if entry is not None and exception is not None:
        span = entry[0]
        span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}: {exception}"))


def _retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    entry = _running.get(getattr(request, "id", None))
    if entry is not None:
        entry[0].add_event("retry", {"reason": str(reason)})


def _postrun(sender: Any = None, task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    from opentelemetry import context

    entry = _running.pop(task_id, None)
    if entry is None:
        return
    span, token = entry
    if state:
        span.set_attribute("celery.state", str(state))
    span.end()
    context.detach(token)
