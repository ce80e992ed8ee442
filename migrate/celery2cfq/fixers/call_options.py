"""Call sites of tasks: ``.delay()``, ``.apply_async()``, ``.s()``, ``.si()``, ``.signature()`` and
``app.send_task()``, only where the index ties the receiver to a Celery task or app.

The calls keep their shape (``cfq_shim`` has the same API) and are counted. Options of
``apply_async``/``signature``/``send_task`` that route on AMQP (``priority``, ``exchange``,
``routing_key``, ``delivery_mode``) are removed with a finding (CFQ401); ``**opts`` cannot be checked
(CFQ402); options the shim does not honour are kept and reported (CFQ403). A ``.delay()`` on anything
the index cannot tie to Celery is never touched.
"""

from __future__ import annotations

import libcst as cst

from ..index import APP, TASK
from ._base import Example, Fixer, Rule
from ._options import filter_options, serializer_check

__all__ = ["CallOptionsFixer", "RULES"]

RULES = (
    Rule(
        code="CFQ401",
        name="call-option-removed",
        title="A call option with no meaning on Cloudflare Queues is removed",
        description="`priority`, `exchange`, `routing_key`, `delivery_mode` in `apply_async`, `signature` or `send_task`.",
        rewrites=True,
        examples=(
            Example(
                before="from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\nadd.apply_async((1, 2), countdown=10, priority=9)\n",
                after="from cfq_shim import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\nadd.apply_async((1, 2), countdown=10)\n",
            ),
        ),
    ),
    Rule(
        code="CFQ402",
        name="call-options-unpacked",
        title="`**options` in a task call cannot be checked",
        description="The codemod cannot see the keys; make sure they hold no `priority`, `exchange` or `routing_key`.",
        examples=(
            Example(
                before="from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\ndef send(opts):\n    add.apply_async((1, 2), **opts)\n",
                after="from cfq_shim import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\ndef send(opts):\n    add.apply_async((1, 2), **opts)\n",
            ),
        ),
    ),
    Rule(
        code="CFQ403",
        name="call-option-kept",
        title="A call option the shim does not honour is kept",
        description="For example `retry_policy`, `producer`, `connection`, or a serializer other than JSON.",
        examples=(
            Example(
                before="from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\nadd.apply_async((1, 2), retry_policy={'max_retries': 3})\n",
                after="from cfq_shim import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\nadd.apply_async((1, 2), retry_policy={'max_retries': 3})\n",
            ),
        ),
    ),
)

HONOURED = frozenset({
    "args", "kwargs", "countdown", "eta", "expires", "queue", "task_id", "headers", "link",
    "link_error", "ignore_result", "time_limit", "soft_time_limit", "serializer", "compression", "shadow",
})
REMOVED = frozenset({"priority", "exchange", "routing_key", "delivery_mode"})
TASK_METHODS = frozenset({"delay", "apply_async", "s", "si", "signature"})
#: Methods whose keyword arguments are options (the others take the task's own arguments).
OPTION_METHODS = frozenset({"apply_async", "signature", "send_task"})


class CallOptionsFixer(Fixer, order=40):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if not isinstance(func, cst.Attribute):
            return updated_node
        method = func.attr.value
        if method in TASK_METHODS:
            if self.ctx.kind(func.value) != TASK:
                return updated_node
        elif method == "send_task":
            if self.ctx.kind(func.value) != APP:
                return updated_node
        else:
            return updated_node
        self.ctx.call_sites += 1
        if method not in OPTION_METHODS:
            return updated_node
        return filter_options(
            self.ctx, original_node, updated_node,
            honoured=HONOURED, removed=REMOVED, removed_code="CFQ401", kept_code="CFQ403",
            what=f".{method}()", star_code="CFQ402", extra_check=serializer_check,
        )
