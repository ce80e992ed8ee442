"""Canvas calls are reported (CFQ505): the shim runs ``group``, ``chain`` and ``chord`` only later.

The imports are migrated like every other name (``from cfq_shim import group``), so the module
still imports; each call gets a finding, because the workflow will not run as a canvas until the
shim supports it. Rewrite it as plain calls, or wait.
"""

from __future__ import annotations

import libcst as cst

from ._base import Example, Fixer, Rule

__all__ = ["CanvasFixer", "RULES"]

_TASK = "from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
_TASK_AFTER = _TASK.replace("from celery", "from cfq_shim")

RULES = (
    Rule(
        code="CFQ505",
        name="canvas",
        title="Canvas (`group`, `chain`, `chord`) comes later in the shim",
        description="The import is migrated; the workflow itself must wait for the shim's canvas support or be rewritten as plain calls.",
        examples=(
            Example(
                before=_TASK + "\nfrom celery import group\n\njob = group(add.s(i, i) for i in range(3))\n",
                after=_TASK_AFTER + "\nfrom cfq_shim import group\n\njob = group(add.s(i, i) for i in range(3))\n",
            ),
        ),
    ),
)

CANVAS = frozenset({
    "celery.group", "celery.chain", "celery.chord",
    "celery.canvas.group", "celery.canvas.chain", "celery.canvas.chord",
})


class CanvasFixer(Fixer):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        name = self.ctx.library_name(original_node.func)
        if name in CANVAS:
            self.ctx.report(original_node, "CFQ505", f"{name.rsplit('.', 1)[1]}(): canvas runs in cfq_shim only later")
        return updated_node
