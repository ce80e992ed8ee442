"""Result backends are kept and reported: the shim stores no results yet.

``cfq_shim`` runs tasks but does not keep their return values (a SQLite/D1 result store is on the
roadmap). The ``result_backend`` setting stays, so the intent is not lost, with a finding (CFQ207).
Where no backend is configured anywhere in the project, ``.get()`` on a task's result could never
have worked and is reported too (CFQ502); with a backend it still waits on a store the shim lacks,
which CFQ207 already says.
"""

from __future__ import annotations

import libcst as cst

from ..index import APP, TASK
from ._base import Example, FileContext, Fixer, Rule
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["ResultGetFixer", "handle_setting", "RULES"]

RULES = (
    Rule(
        code="CFQ207",
        name="result-backend",
        title="A result backend: kept, but the shim stores no results yet",
        description=(
            "The setting is kept. Until the shim's result store lands, `AsyncResult.get()` cannot return "
            "a task's value: pass results through your own storage, or wait for the store."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj', backend='redis://localhost/1')\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj', backend='redis://localhost/1')\n",
            ),
        ),
    ),
    Rule(
        code="CFQ502",
        name="result-get-without-backend",
        title="`.get()` on a task result where no result backend is configured",
        description=(
            "Without a result backend Celery's `.get()` raises or blocks; the shim has no results either. "
            "Reported at the call; redesign the caller to not wait for the value."
        ),
        examples=(
            Example(
                before="from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\ndef total():\n    return add.delay(1, 2).get(timeout=5)\n",
                after="from cfq_shim import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n\ndef total():\n    return add.delay(1, 2).get(timeout=5)\n",
            ),
        ),
    ),
)

#: Methods whose return value is a task's result.
RESULT_METHODS = frozenset({"delay", "apply_async", "send_task"})


@setting_handler(order=30)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key == "result_backend":
        ctx.report(site.node, "CFQ207", f"{site.spelling} kept: cfq_shim stores no task results yet")
    return None


class ResultGetFixer(Fixer, order=50):
    rules = RULES

    def _no_backend(self) -> bool:
        facts = self.ctx.facts
        return not (self.ctx.index.has_result_backend or facts.sets_backend_setting or facts.backend_call_refs)

    def _is_result(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self.ctx.result_names
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in RESULT_METHODS:
                owner = self.ctx.kind(func.value)
                return (owner == TASK) or (owner == APP and func.attr.value == "send_task")
            name = self.ctx.library_name(func)
            return name in ("celery.result.AsyncResult",) or (
                isinstance(func, cst.Attribute) and func.attr.value == "AsyncResult" and self.ctx.kind(func.value) in (APP, TASK)
            )
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._is_result(node.value):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.ctx.result_names.add(target.target.value)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "get" and self._is_result(func.value) and self._no_backend():
            self.ctx.report(original_node, "CFQ502", "result .get() but no result backend is configured; cfq_shim stores no results")
        return updated_node
