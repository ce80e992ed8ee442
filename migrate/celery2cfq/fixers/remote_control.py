"""``app.control`` is reported (CFQ501): remote control has no equivalent on Cloudflare Queues.

``inspect()``, ``revoke()``, ``broadcast()``, ``ping()`` and the rest send commands to workers over a
broadcast exchange of the broker. Cloudflare Queues delivers each message to one consumer and has no
such channel, so the code is left as it is for a human to replace (the shim's CLI and dashboards
show queues and dead letters).
"""

from __future__ import annotations

import libcst as cst

from ..index import APP
from ._base import Example, Fixer, Rule

__all__ = ["RemoteControlFixer", "RULES"]

RULES = (
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
)


class RemoteControlFixer(Fixer, order=70):
    rules = RULES

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if original_node.attr.value == "control" and self.ctx.kind(original_node.value) == APP:
            self.ctx.report(original_node, "CFQ501", "app.control (inspect/revoke/broadcast) has no equivalent on Cloudflare Queues")
        return updated_node
