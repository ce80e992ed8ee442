"""Task options: keep what the shim honours, drop what Cloudflare Queues has no use for.

``priority``, ``exchange``, ``routing_key`` and ``delivery_mode`` describe AMQP/Redis routing; a
Cloudflare queue has none of it, so they are removed with a finding (CFQ301). Celery options that
change what happens to a task and that the shim does not act on (``serializer='pickle'``,
``reject_on_worker_lost``, ``Request=``, …; see ``NOT_HONOURED``) are kept with a finding (CFQ302).
Any other keyword is a task attribute in Celery and in the shim alike (``verbose_name=…``,
``description=…`` that a project reads back, or Celery's bookkeeping such as ``send_events``): kept
silently. Applies to ``@app.task(...)``, ``@shared_task(...)``, decorator
aliases (``retrying = shared_task(acks_late=True)``), the call form ``app.task(func, ...)``, and class
attributes of ``Task`` subclasses defined at module level (``class Base(Task): priority = 5``).
"""

from __future__ import annotations

import libcst as cst

from ..index import TASK_CLASS, TASK_DECORATOR
from ._base import Example, Fixer, Rule
from ._options import filter_options, serializer_check

__all__ = ["TaskOptionsFixer", "HONOURED", "NOT_HONOURED", "REMOVED", "RULES"]

RULES = (
    Rule(
        code="CFQ301",
        name="task-option-removed",
        title="A task option with no meaning on Cloudflare Queues is removed",
        description=(
            "`priority`, `exchange`, `routing_key`, `delivery_mode`: removed from the task's options (decorator, "
            "decorator alias, `app.task(func, ...)`, or a class attribute of a module-level `Task` subclass), "
            "with this finding."
        ),
        rewrites=True,
        examples=(
            Example(
                before="from celery import shared_task\n\n@shared_task(bind=True, priority=5, routing_key='hi')\ndef add(self, x, y):\n    return x + y\n",
                after="from cfq_shim import shared_task\n\n@shared_task(bind=True)\ndef add(self, x, y):\n    return x + y\n",
            ),
        ),
    ),
    Rule(
        code="CFQ302",
        name="task-option-kept",
        title="A task option the shim does not honour is kept",
        description=(
            "A Celery option that changes what happens to the task, which the shim does not act on. Removing it "
            "could change behaviour too, so it stays for a human to decide: `serializer='pickle'` (the shim sends "
            "JSON only), `reject_on_worker_lost`, `retry_on_worker_lost`, `acks_on_failure_or_timeout`, "
            "`acks_on_failure`, `acks_on_timeout`, `Request`, `Strategy`, the `pydantic` options. Other keywords "
            "(`verbose_name=…`, `description=…`) become task attributes in Celery and in the shim alike and get "
            "no finding."
        ),
        examples=(
            Example(
                before="from celery import shared_task\n\n@shared_task(serializer='pickle')\ndef resize(image):\n    ...\n",
                after="from cfq_shim import shared_task\n\n@shared_task(serializer='pickle')\ndef resize(image):\n    ...\n",
            ),
        ),
    ),
)

HONOURED = frozenset({
    "name", "bind", "base", "queue", "ignore_result", "acks_late", "expires", "max_retries",
    "default_retry_delay", "autoretry_for", "dont_autoretry_for", "retry_kwargs", "retry_backoff",
    "retry_backoff_max", "retry_jitter", "time_limit", "soft_time_limit", "rate_limit", "serializer",
    "compression", "track_started", "throws", "typing", "shared", "lazy",
})
REMOVED = frozenset({"priority", "exchange", "routing_key", "delivery_mode"})

_WORKER_LOST = "the shim does not act on it: a message whose worker died comes back when its lease lapses"
_ACKS = "the shim does not act on it: a task that fails or times out is acknowledged (or retried) as without it"
_PYDANTIC = "the shim does not validate arguments with pydantic: the task receives them as sent (plain JSON)"
#: Celery task options that change behaviour and that the shim does not act on -> why (CFQ302).
NOT_HONOURED: dict[str, str] = {
    "reject_on_worker_lost": _WORKER_LOST,
    "retry_on_worker_lost": _WORKER_LOST,
    "acks_on_failure_or_timeout": _ACKS,
    "acks_on_failure": _ACKS,
    "acks_on_timeout": _ACKS,
    "Request": "the shim's worker does not use a custom Request class: its hooks (on_timeout, on_failure, ...) never run",
    "Strategy": "the shim's worker does not use a custom Strategy: messages are handled by its own consumer",
    "pydantic": _PYDANTIC,
    "pydantic_strict": _PYDANTIC,
    "pydantic_context": _PYDANTIC,
    "pydantic_dump_kwargs": _PYDANTIC,
}


class TaskOptionsFixer(Fixer, order=30):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if self.ctx.kind(original_node.func) != TASK_DECORATOR:
            return updated_node
        return filter_options(
            self.ctx, original_node, updated_node,
            honoured=HONOURED, removed=REMOVED, removed_code="CFQ301", kept_code="CFQ302",
            what="task option", extra_check=serializer_check, not_honoured=NOT_HONOURED,
        )

    def leave_Decorator(self, original_node: cst.Decorator, updated_node: cst.Decorator) -> cst.Decorator:
        """``@shared_task(priority=1)`` became ``@shared_task()``: write ``@shared_task``, as Celery
        treats both the same. Parentheses the code had without options stay."""
        before, after = original_node.decorator, updated_node.decorator
        if isinstance(before, cst.Call) and before.args and isinstance(after, cst.Call) and not after.args:
            return updated_node.with_changes(decorator=after.func)
        return updated_node

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        if not isinstance(updated_node.body, cst.IndentedBlock) or not self._is_task_class(original_node):
            return updated_node
        kept = []
        for original, statement in zip(original_node.body.body, updated_node.body.body):
            name = _assigned_name(statement)
            if name in REMOVED and self.ctx.enabled("CFQ301"):
                self.ctx.report(original, "CFQ301", f"task class attribute: removed {name} (no meaning on Cloudflare Queues)")
                continue
            kept.append(statement)
        if len(kept) == len(updated_node.body.body):
            return updated_node
        if not kept:
            kept = [cst.SimpleStatementLine(body=[cst.Pass()])]
        return updated_node.with_changes(body=updated_node.body.with_changes(body=kept))

    def _is_task_class(self, node: cst.ClassDef) -> bool:
        prefix = f"{self.ctx.module}." if self.ctx.module else ""
        return self.ctx.resolver.kinds.get(prefix + node.name.value) == TASK_CLASS and not self.ctx.statement_stack[:-1]


def _assigned_name(statement: cst.CSTNode) -> str | None:
    """``name`` for a line holding only ``name = value`` (or ``name: T = value``)."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
        return small.targets[0].target.value
    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
        return small.target.value
    return None
