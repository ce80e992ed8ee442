"""Tasks looked up by a name known only at run time are reported (CFQ404).

``app.tasks[name]`` and ``app.send_task(name_variable)`` pick a task from data. The codemod cannot
tell which task that is, so it cannot check that the task exists in the migrated project or that
its options make sense on Cloudflare Queues. A literal name (``send_task('proj.add')``) is fine.
"""

from __future__ import annotations

import libcst as cst

from ..index import APP
from ._base import Example, Fixer, Rule, string_value

__all__ = ["DynamicLookupFixer", "RULES"]

RULES = (
    Rule(
        code="CFQ404",
        name="dynamic-task-lookup",
        title="A task looked up by a name known only at run time",
        description="`app.tasks[name]` or `send_task(variable)`: check that every possible task exists in the migrated project.",
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj')\n\ndef run(name):\n    return app.send_task(name)\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj')\n\ndef run(name):\n    return app.send_task(name)\n",
            ),
        ),
    ),
)


class DynamicLookupFixer(Fixer, order=60):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "send_task" and self.ctx.kind(func.value) == APP:
            first = original_node.args[0] if original_node.args else None
            if first is None or first.keyword is not None or string_value(first.value) is None:
                self.ctx.report(original_node, "CFQ404", "send_task() with a task name known only at run time")
        return updated_node

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.Subscript:
        value = original_node.value
        if isinstance(value, cst.Attribute) and value.attr.value == "tasks" and self.ctx.kind(value.value) == APP:
            element = original_node.slice[0].slice if original_node.slice else None
            if not (isinstance(element, cst.Index) and string_value(element.value) is not None):
                self.ctx.report(original_node, "CFQ404", "app.tasks[...] with a task name known only at run time")
        return updated_node
