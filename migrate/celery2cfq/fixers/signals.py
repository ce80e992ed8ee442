"""Handlers for signals the shim never sends are reported (CFQ506).

``cfq_shim.signals`` defines every Celery signal, so imports and ``connect`` keep working, but some
announce events that do not exist on Cloudflare Queues or are not built yet: beat, eventlet pools,
worker heartbeats, preload options (``celery2cfq.names.SIGNALS_NOT_SENT``). A handler connected to
one of them would silently never run, so each connection is reported.
"""

from __future__ import annotations

import libcst as cst

from ..names import SIGNALS_NOT_SENT
from ._base import Example, Fixer, Rule

__all__ = ["SignalsFixer", "RULES"]

RULES = (
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


class SignalsFixer(Fixer, order=90):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        self._check(original_node, original_node.func)  # ``sig.connect(handler)``, ``@sig.connect(...)``
        return updated_node

    def visit_Decorator(self, node: cst.Decorator) -> None:
        if not isinstance(node.decorator, cst.Call):  # a call is seen by leave_Call
            self._check(node, node.decorator)

    def _check(self, node: cst.CSTNode, target: cst.BaseExpression) -> None:
        name = self.ctx.library_name(target)
        if name and name.startswith("celery.signals.") and name.endswith(".connect"):
            signal = name.split(".")[2]
            if signal in SIGNALS_NOT_SENT:
                self.ctx.report(node, "CFQ506", f"cfq_shim never sends the {signal} signal; this handler will not run")
