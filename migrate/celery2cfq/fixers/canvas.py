"""Chords are reported (CFQ505): the shim runs a ``chord`` only in eager mode for now.

``group`` and ``chain`` run in cfq_shim as they do in Celery (a chain travels as link callbacks, a
group sends each task), so they migrate silently with their imports. A chord waits for the results
of its header, which needs a result backend; the shim has none yet, so outside eager mode applying
a chord raises an error that names the missing feature. Each chord call gets a finding so a human
can rewrite it (for example as a chain) or wait for result backends.
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
        title="A `chord` runs in the shim only in eager mode until result backends exist",
        description="`group` and `chain` run in cfq_shim as in Celery and are migrated without a finding. A chord needs its header's results, and the shim stores none yet: rewrite it (for example as a chain) or wait for result backends.",
        examples=(
            Example(
                before=_TASK + "\nfrom celery import chord\n\njob = chord(add.s(i, i) for i in range(3))(add.s(0))\n",
                after=_TASK_AFTER + "\nfrom cfq_shim import chord\n\njob = chord(add.s(i, i) for i in range(3))(add.s(0))\n",
            ),
        ),
    ),
)

CHORD = frozenset({"celery.chord", "celery.canvas.chord"})


class CanvasFixer(Fixer, order=80):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        name = self.ctx.library_name(original_node.func)
        if name in CHORD:
            self.ctx.report(
                original_node, "CFQ505", "chord(): cfq_shim runs chords only in eager mode until it stores results"
            )
        return updated_node
