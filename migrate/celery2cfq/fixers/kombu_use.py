"""Direct use of kombu and of ``app.amqp`` is reported (CFQ508): the shim does not use kombu.

Celery sends through kombu, and projects reach for it directly: ``Queue``/``Exchange`` objects in
``task_queues``, ``Connection`` and ``Producer`` to publish by hand, ``app.amqp`` and its producer
pool. The rewrite passes, but on the shim there is no AMQP layer: ``app.amqp`` does not exist, a
``Connection`` talks to the old broker (gone after the migration), and of a ``Queue`` only the name
is read (exchanges and routing keys do not exist on Cloudflare Queues). kombu's exception classes
are the exception: the shim provides them, and the import rewrite maps them (CFQ101).
"""

from __future__ import annotations

import libcst as cst

from ..index import APP
from ..names import MODULE_TARGETS
from ._base import Example, Fixer, Rule, dotted_name

__all__ = ["KombuUseFixer", "RULES"]

RULES = (
    Rule(
        code="CFQ508",
        name="kombu-use",
        title="kombu used directly, or `app.amqp`: the shim has no AMQP layer",
        description=(
            "`app.amqp` does not exist on the shim's app. A kombu `Connection`, `Producer`, `Consumer` or "
            "`SimpleQueue` talks to the old broker, which is gone after the migration: send with "
            "`apply_async()`/`send_task()`. Of a `Queue` only the name is read (exchanges, routing keys and queue "
            "arguments do not exist on Cloudflare Queues): write the name, and route with `task_routes` or "
            "`queue=`. kombu's exceptions are migrated (CFQ101) and get no finding."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before=(
                    "from celery import Celery\nfrom kombu import Exchange, Queue\n\napp = Celery('proj')\n"
                    "app.conf.task_queues = (Queue('mail', Exchange('mail'), routing_key='mail'),)\n"
                ),
                after=(
                    "from cfq_shim import Celery\nfrom kombu import Exchange, Queue\n\napp = Celery('proj')\n"
                    "app.conf.task_queues = (Queue('mail', Exchange('mail'), routing_key='mail'),)\n"
                ),
            ),
        ),
    ),
)

_QUEUE = "only the queue's name is read (no exchanges, routing keys or queue arguments on Cloudflare Queues): write the name"
_EXCHANGE = "Cloudflare Queues has no exchanges: route with task_routes or queue="
_BROKER = "talks to the old broker, which is gone after the migration: send with apply_async() or send_task()"
#: kombu name -> what to do instead.
_ADVICE = {
    "Queue": _QUEUE,
    "Exchange": _EXCHANGE,
    "binding": _EXCHANGE,
    **dict.fromkeys(
        ("Connection", "BrokerConnection", "Producer", "Consumer", "SimpleQueue", "SimpleBuffer", "pools",
         "connections", "producers", "Message"),
        _BROKER,
    ),
}
_DEFAULT = "cfq_shim does not use kombu, so this has no effect on its messages"


def _advice(names: list[str]) -> str:
    """``Queue: …; Connection, Producer: …``: names grouped by what to do instead, in their order."""
    grouped: dict[str, list[str]] = {}
    for name in names:
        grouped.setdefault(_ADVICE.get(name, _DEFAULT), []).append(name)
    return "; ".join(f"{', '.join(group)}: {advice}" for advice, group in grouped.items())


def _is_kombu_module(module: str | None) -> bool:
    """kombu, except the modules whose names the shim provides (kombu.exceptions)."""
    return module is not None and (module == "kombu" or module.startswith("kombu.")) and module not in MODULE_TARGETS


class KombuUseFixer(Fixer, order=120):
    rules = RULES

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom) -> cst.ImportFrom:
        module = dotted_name(original_node.module) if original_node.module is not None and not original_node.relative else None
        if not _is_kombu_module(module):
            return updated_node
        if isinstance(original_node.names, cst.ImportStar):
            self.ctx.report(original_node, "CFQ508", f"from {module} import *: {_DEFAULT}")
        else:
            names = [dotted_name(alias.name) or "?" for alias in original_node.names]
            self.ctx.report(original_node, "CFQ508", f"from {module} import {', '.join(names)}: {_advice(names)}")
        return updated_node

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        for alias in original_node.names:
            module = dotted_name(alias.name)
            if not _is_kombu_module(module):
                continue
            assert module is not None
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else module.split(".")[0]
            used = sorted(u for u in self.ctx.facts.module_attr_uses.get(local, ()) if u)
            what = _advice(used) if used else _DEFAULT
            self.ctx.report(original_node, "CFQ508", f"import {module}: {what}")
        return updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if original_node.attr.value == "amqp" and self.ctx.kind(original_node.value) == APP:
            self.ctx.report(
                original_node, "CFQ508",
                "app.amqp: the shim's app has no AMQP layer (no producer pool, queues or exchanges); send with "
                "apply_async() or send_task(), route with task_routes",
            )
        return updated_node
