"""What cannot be migrated automatically and needs a human: each use becomes a finding, and the code
stays as it is.

- ``app.control`` (``inspect()``, ``revoke()``, ``broadcast()``): remote control talks to workers
  over the broker; Cloudflare Queues has no such channel (CFQ501).
- Dynamic task lookup by name (``app.tasks[name]``, ``send_task(name_variable)``): the codemod
  cannot tell which task runs, so it cannot check it (CFQ404).
- Canvas (``group``, ``chain``, ``chord``): the imports are migrated, but the shim runs canvas
  primitives only later (CFQ505).
- Signal handlers for signals the shim never sends (beat, eventlet pool, heartbeats) (CFQ506).
"""

from __future__ import annotations

import libcst as cst

from ..index import APP
from ..names import SIGNALS_NOT_SENT
from ._base import Example, Fixer, Rule, string_value

__all__ = ["FindingsFixer", "RULES"]

_TASK = "from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
_TASK_AFTER = _TASK.replace("from celery", "from cfq_shim")

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
    Rule(
        code="CFQ501",
        name="remote-control",
        title="`app.control` (inspect, revoke, broadcast) has no equivalent",
        description="Remote control needs a broadcast channel to workers; Cloudflare Queues has none. Use the shim's CLI and dashboards instead.",
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj')\nactive = app.control.inspect().active()\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj')\nactive = app.control.inspect().active()\n",
            ),
        ),
    ),
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
    Rule(
        code="CFQ506",
        name="signal-not-sent",
        title="A handler for a signal the shim never sends",
        description="The shim defines every Celery signal so imports work, but never sends beat, eventlet-pool, heartbeat and preload signals.",
        examples=(
            Example(
                path="proj/signals.py",
                before="from celery.signals import beat_init\n\n@beat_init.connect\ndef started(sender, **kwargs):\n    print('beat up')\n",
                after="from cfq_shim.signals import beat_init\n\n@beat_init.connect\ndef started(sender, **kwargs):\n    print('beat up')\n",
            ),
        ),
    ),
)

CANVAS = frozenset({"celery.group", "celery.chain", "celery.chord", "celery.canvas.group", "celery.canvas.chain", "celery.canvas.chord"})


class FindingsFixer(Fixer):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        name = self.ctx.library_name(func)
        if name in CANVAS:
            self.ctx.report(original_node, "CFQ505", f"{name.rsplit('.', 1)[1]}(): canvas runs in cfq_shim only later")
        elif name and name.startswith("celery.signals.") and name.endswith(".connect"):
            self._signal(original_node, name)
        if isinstance(func, cst.Attribute) and func.attr.value == "send_task" and self.ctx.kind(func.value) == APP:
            first = original_node.args[0] if original_node.args else None
            if first is None or first.keyword is not None or string_value(first.value) is None:
                self.ctx.report(original_node, "CFQ404", "send_task() with a task name known only at run time")
        return updated_node

    def visit_Decorator(self, node: cst.Decorator) -> None:
        if isinstance(node.decorator, cst.Call):
            return  # leave_Call sees ``@signal.connect(...)``
        name = self.ctx.library_name(node.decorator)
        if name and name.startswith("celery.signals.") and name.endswith(".connect"):
            self._signal(node, name)

    def _signal(self, node: cst.CSTNode, name: str) -> None:
        signal = name.split(".")[2]
        if signal in SIGNALS_NOT_SENT:
            self.ctx.report(node, "CFQ506", f"cfq_shim never sends the {signal} signal; this handler will not run")

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if original_node.attr.value == "control" and self.ctx.kind(original_node.value) == APP:
            self.ctx.report(original_node, "CFQ501", "app.control (inspect/revoke/broadcast) has no equivalent on Cloudflare Queues")
        return updated_node

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.Subscript:
        value = original_node.value
        if isinstance(value, cst.Attribute) and value.attr.value == "tasks" and self.ctx.kind(value.value) == APP:
            element = original_node.slice[0].slice if original_node.slice else None
            if not (isinstance(element, cst.Index) and string_value(element.value) is not None):
                self.ctx.report(original_node, "CFQ404", "app.tasks[...] with a task name known only at run time")
        return updated_node
