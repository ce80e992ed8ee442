"""``app.control``: the calls the shim carries pass quietly; the others are reported (CFQ501).

Cloudflare Queues has no broadcast channel to workers, so cfq_shim carries remote control through the
shared store (the result backend, or the embedded store on one machine): ``revoke`` (also with
``terminate=True``) and ``terminate``, ``ping``, ``shutdown``, ``add_consumer``/``cancel_consumer``,
``rate_limit``, ``time_limit``, ``purge``, and ``inspect()`` with ``active``, ``scheduled``, ``reserved``,
``registered``, ``stats``, ``ping``, ``active_queues``, ``revoked`` and ``query_task``, answered in
Celery's reply shape from the workers' heartbeats (the set is what ``cfq_shim.control`` implements).
Any other call (``broadcast``, ``revoke_by_stamped_headers``, ``pool_restart``, ``autoscale``,
``inspect().conf()``, ...) raises there, so it is reported with the reason and what to use instead,
and so is ``app.control`` used as an object, where the codemod cannot see which calls follow.
"""

from __future__ import annotations

import libcst as cst

from ..index import APP
from ._base import Example, Fixer, FileContext, Rule

__all__ = ["RemoteControlFixer", "RULES", "CARRIED_CONTROL", "CARRIED_INSPECT"]

RULES = (
    Rule(
        code="CFQ501",
        name="remote-control",
        title="An `app.control` call the shim does not carry",
        description=(
            "cfq_shim carries remote control through its shared store: `revoke` (and `terminate`), `ping`, "
            "`shutdown`, `add_consumer`/`cancel_consumer`, `rate_limit`, `time_limit`, `purge`, and `inspect()` with "
            "`active`, `scheduled`, `reserved`, `registered`, `stats`, `ping`, `active_queues`, `revoked`, "
            "`query_task`; these get no finding (docs/operations.md). Other calls (`broadcast`, "
            "`revoke_by_stamped_headers`, `pool_restart`, `autoscale`, `enable_events`, `inspect().conf()`, ...) "
            "raise on the shim: they are reported with the reason and what to use instead, and so is `app.control` "
            "passed around as an object."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before=(
                    "from celery import Celery\n\napp = Celery('proj')\nactive = app.control.inspect().active()\n"
                    "app.control.broadcast('pool_grow', arguments={'n': 2})\n"
                ),
                after=(
                    "from cfq_shim import Celery\n\napp = Celery('proj')\nactive = app.control.inspect().active()\n"
                    "app.control.broadcast('pool_grow', arguments={'n': 2})\n"
                ),
            ),
        ),
    ),
)

#: ``app.control.<name>(...)`` calls the shim carries.
CARRIED_CONTROL = frozenset({
    "revoke", "terminate", "ping", "shutdown", "add_consumer", "cancel_consumer", "rate_limit", "time_limit",
    "purge", "discard_all", "inspect",
})
#: ``app.control.inspect().<name>()`` calls the shim answers (``registered_tasks`` is Celery's alias).
CARRIED_INSPECT = frozenset({
    "active", "scheduled", "reserved", "registered", "registered_tasks", "stats", "ping", "active_queues",
    "revoked", "query_task",
})

_POOL_SIZE = "the shim's pools have a fixed size: restart the worker with another -c/--concurrency"
_EVENTS = "the shim's workers send no Celery events: watch them with cfq-shim inspect, status or the dashboard"
_WHY_CONTROL = {
    "broadcast": (
        "Cloudflare Queues has no broadcast channel: use the calls the shim carries (revoke, shutdown, "
        "pool_restart, rate_limit, time_limit, add_consumer/cancel_consumer, ping)"
    ),
    "revoke_by_stamped_headers": "not carried by the shim: revoke the tasks by id (app.control.revoke(ids))",
    "pool_restart": "not carried by the shim: restart the worker process to load new code",
    "autoscale": _POOL_SIZE,
    "pool_grow": _POOL_SIZE,
    "pool_shrink": _POOL_SIZE,
    "enable_events": _EVENTS,
    "disable_events": _EVENTS,
    "heartbeat": _EVENTS,
    "election": "not carried by the shim: one beat holds a lease instead (docs/beat.md)",
}
_WHY_INSPECT = {
    "conf": "not answered by the shim's workers: read app.conf in the worker's code instead",
}


def _control_owner(node: cst.BaseExpression, ctx: FileContext) -> cst.Attribute | None:
    """The ``X.control`` node when ``node`` is ``X.control`` on a Celery app."""
    if isinstance(node, cst.Attribute) and node.attr.value == "control" and ctx.kind(node.value) == APP:
        return node
    return None


class RemoteControlFixer(Fixer, order=70):
    rules = RULES

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        #: ids of ``app.control`` nodes whose call the fixer has judged.
        self.judged: set[int] = set()
        #: names bound to ``app.control.inspect(...)``.
        self.inspectors: set[str] = set()

    def _inspect_call(self, node: cst.BaseExpression) -> cst.Attribute | None:
        """The ``app.control`` of ``app.control.inspect(...)``."""
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "inspect":
            return _control_owner(node.func.value, self.ctx)
        return None

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._inspect_call(node.value) is not None:
            self.inspectors.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        control = _control_owner(func.value, self.ctx)
        if control is not None:
            self.judged.add(id(control))
            if method not in CARRIED_CONTROL:
                why = _WHY_CONTROL.get(method, "not carried by the shim's remote control")
                self.ctx.report(node, "CFQ501", f"app.control.{method}(): {why}")
            return
        control = self._inspect_call(func.value)
        if control is not None or (isinstance(func.value, cst.Name) and func.value.value in self.inspectors):
            if method not in CARRIED_INSPECT:
                why = _WHY_INSPECT.get(method, "not answered by the shim's workers")
                self.ctx.report(node, "CFQ501", f"inspect().{method}(): {why}")

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        if id(original_node) not in self.judged and _control_owner(original_node, self.ctx) is not None:
            self.ctx.report(
                original_node, "CFQ501",
                "app.control used as an object: the shim carries revoke/terminate, ping, shutdown, "
                "add/cancel_consumer, rate_limit, time_limit, purge and inspect() (active, scheduled, reserved, "
                "registered, stats, ping, active_queues, revoked, query_task) only; check the calls made through it",
            )
        return updated_node
