"""A chord where no result backend is configured is reported (CFQ505).

``group``, ``chain``, ``chord``, ``map``/``starmap``/``chunks`` run in cfq_shim as in Celery, so they
migrate silently with their imports. A chord counts its header's results in the result backend (no
``chord_unlock`` polling task): with a backend configured anywhere in the project it works as it
did; without one, applying it raises. Each chord call in such a project gets a finding.
"""

from __future__ import annotations

import libcst as cst

from ._base import Example, Fixer, Rule, has_result_backend

__all__ = ["CanvasFixer", "RULES"]

_TASK = "from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
_TASK_AFTER = _TASK.replace("from celery", "from cfq_shim")

RULES = (
    Rule(
        code="CFQ505",
        name="chord-without-backend",
        title="A `chord` where no result backend is configured",
        description=(
            "`group`, `chain` and `chord` run in cfq_shim as in Celery. A chord counts its header's results in the "
            "result backend, and none is configured in the project, so applying it raises: configure one "
            "(`sqlite:///path` on one machine, `redis://` or `d1://` across machines)."
        ),
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
        if name in CHORD and not has_result_backend(self.ctx):
            self.ctx.report(
                original_node, "CFQ505",
                "chord(): no result backend is configured, and a chord counts its header's results there: cfq_shim "
                "raises when it is applied; set result_backend (sqlite:///path on one machine, redis:// or d1:// "
                "across machines)",
            )
        return updated_node
