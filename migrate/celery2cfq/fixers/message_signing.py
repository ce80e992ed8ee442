"""Celery's message signing is reported (CFQ507): the shim neither signs nor verifies messages.

With ``task_serializer = 'auth'`` (or ``'auth'`` in ``accept_content``) and ``app.setup_security()``,
Celery signs every message with the sender's key and drops messages it cannot verify. The rewrite
passes, but on the shim ``setup_security()`` does not exist (AttributeError at import) and
``task_serializer='auth'`` is refused when the app is configured (messages are JSON only); with
``'auth'`` only in ``accept_content``, unsigned messages would silently be accepted. Who may send is
decided by Cloudflare instead: only holders of an API token with Queues write permission can. Left
as it is, with this finding, for a human to remove.
"""

from __future__ import annotations

import libcst as cst

from ..index import APP
from ._base import Example, FileContext, Fixer, Rule, string_value
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["MessageSigningFixer", "handle_setting", "RULES"]

_WHO_SENDS = (
    "only holders of a Cloudflare API token with Queues write permission can send, so give that token "
    "to the producers alone"
)

RULES = (
    Rule(
        code="CFQ507",
        name="message-signing",
        title="Celery's message signing (`'auth'` serializer, `app.setup_security()`) has no equivalent",
        description=(
            "The shim neither signs nor verifies messages: `app.setup_security()` does not exist on its app, "
            "`task_serializer='auth'` is refused (messages are JSON only), and `'auth'` in `accept_content` "
            "would no longer keep unsigned messages out. Remove them, and restrict who can send instead: "
            + _WHO_SENDS + "."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before=(
                    "from celery import Celery\n\napp = Celery('proj')\n"
                    "app.conf.update(task_serializer='auth', accept_content=['auth'])\napp.setup_security()\n"
                ),
                after=(
                    "from cfq_shim import Celery\n\napp = Celery('proj')\n"
                    "app.conf.update(task_serializer='auth', accept_content=['auth'])\napp.setup_security()\n"
                ),
            ),
        ),
    ),
)

_SERIALIZERS = frozenset({"task_serializer", "result_serializer", "event_serializer"})
_ACCEPT = frozenset({"accept_content", "result_accept_content"})


def _strings(node: cst.BaseExpression) -> list[str]:
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return [s for s in (string_value(e.value) for e in node.elements if isinstance(e, cst.Element)) if s is not None]
    value = string_value(node)
    return [value] if value is not None else []


@setting_handler(order=60)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key in _SERIALIZERS and string_value(site.value) == "auth":
        refused = " and refuses any task serializer but JSON at start-up" if site.key == "task_serializer" else ""
        ctx.report(
            site.node, "CFQ507", f"{site.spelling}='auth': cfq_shim does not sign messages{refused}; remove it: {_WHO_SENDS}"
        )
    elif site.key in _ACCEPT and "auth" in _strings(site.value):
        ctx.report(
            site.node, "CFQ507",
            f"{site.spelling} with 'auth': cfq_shim does not verify signatures, so unsigned messages would be "
            f"accepted; remove 'auth': {_WHO_SENDS}",
        )
    return None


class MessageSigningFixer(Fixer, order=110):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "setup_security" and self.ctx.kind(func.value) == APP:
            self.ctx.report(
                original_node, "CFQ507",
                f"app.setup_security(): cfq_shim has no message signing (this call fails there); remove it: {_WHO_SENDS}",
            )
        return updated_node
