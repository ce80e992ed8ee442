"""What becomes of each ``import celery…`` in one module, decided from the module's facts alone.

``import celery`` (or ``import celery as c``) can move to ``cfq_shim`` only when every attribute
chain the module uses through it is one the shim provides (``celery.exceptions.Ignore``,
``celery.utils.log.get_task_logger``...; see ``celery2cfq.names``). The import fixer rewrites by
these plans, and the index uses them to know which apps stay built by Celery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ._facts import ModuleFacts
from .names import MODULE_TARGETS, SHIM_PACKAGE_IMPORTS, shim_attribute_chain

__all__ = ["ModuleImportPlan", "is_celery_module", "module_import_plans", "app_module_stays_on_celery"]


def is_celery_module(module: str | None) -> bool:
    return module is not None and (module == "celery" or module.startswith("celery.") or module in MODULE_TARGETS)


@dataclass(frozen=True)
class ModuleImportPlan:
    """What becomes of one local name bound by ``import celery…``."""

    #: The Celery module the name stands for (``celery`` for ``import celery.exceptions``).
    module: str
    #: Uses the shim lacks (dotted after the name; a module imported as a whole); empty: rewritable.
    missing: frozenset[str]
    #: Chain after the name -> the whole expression's new spelling (``exceptions.Ignore`` ->
    #: ``cfq_shim.exceptions.Ignore``).
    chains: Mapping[str, str]
    #: cfq_shim submodules its chains reach that ``import cfq_shim`` alone does not load.
    submodules: frozenset[str]


def module_import_plans(facts: ModuleFacts) -> dict[str, ModuleImportPlan]:
    """A plan for every local name bound to a Celery module by ``import``, and for ``celery``
    (which may be imported inside a function), from the uses the module analysis found."""
    plans: dict[str, ModuleImportPlan] = {}
    locals_ = {name for name in facts.module_bindings if is_celery_module(facts.bindings.get(name))} | {"celery"}
    for local in locals_:
        module = facts.bindings.get(local, "celery") if local in facts.module_bindings else "celery"
        whole = local == module  # ``import celery`` / ``import celery.x``: chains spell full names
        missing: set[str] = set()
        if module not in MODULE_TARGETS:
            missing.add(module)
        if whole:
            missing.update(m for m in facts.plain_imports if m.split(".")[0] == local and m not in MODULE_TARGETS)
        if "" in facts.module_attr_uses.get(local, set()):
            missing.add("<the module itself>")
        base = MODULE_TARGETS[module][0] if module in MODULE_TARGETS else ""
        chains: dict[str, str] = {}
        submodules: set[str] = set()
        for rest in facts.module_attr_chains.get(local, set()):
            mapped = shim_attribute_chain(f"{module}.{rest}")
            if mapped is None or not (whole or mapped[0] == base or mapped[0].startswith(base + ".")):
                missing.add(rest)
                continue
            target, attributes = mapped
            if whole:
                chains[rest] = ".".join([target, *attributes])
            else:  # ``c.utils.log.x`` with ``import celery as c`` -> ``c.log.x``: the name stays
                below = target[len(base) + 1 :].split(".") if target != base else []
                chains[rest] = ".".join([local, *below, *attributes])
            if target not in SHIM_PACKAGE_IMPORTS and target != base:
                submodules.add(target)
        if whole:  # ``import celery.exceptions`` becomes ``import cfq_shim.exceptions`` itself
            submodules -= {MODULE_TARGETS[m][0] for m in facts.plain_imports if m in MODULE_TARGETS}
        plans[local] = ModuleImportPlan(module, frozenset(missing), chains, frozenset(submodules))
    return plans


def app_module_stays_on_celery(facts: ModuleFacts, app_class_refs: "set[str]", plans: Mapping[str, ModuleImportPlan] | None = None) -> bool:
    """True when a call of one of ``app_class_refs`` (refs the index knows build apps) in this
    module goes through a Celery module import that must stay (its plan has missing names).
    Import rules turned off are the caller's business."""
    for ref in app_class_refs:
        for head in facts.ref_heads.get(ref, ()):
            if head in facts.module_bindings:
                if plans is None:
                    plans = module_import_plans(facts)
                plan = plans.get(head)
                if plan is not None and plan.missing:
                    return True
    return False
