"""Imports from Celery become imports from ``cfq_shim``.

``cfq_shim`` keeps Celery's public names (see ``celery2cfq.names``), so only the module changes:
``from celery import Celery as C`` becomes ``from cfq_shim import Celery as C``, and
``import celery as c`` becomes ``import cfq_shim as c`` when every ``c.X`` the module uses is
provided. An import that mixes provided and missing names is split in two. Names the shim does not
provide are left alone and reported (CFQ103), so the code keeps importing them from Celery until a
human decides.

Attribute chains through a module import follow the same table as a whole
(``celery.utils.log.get_task_logger`` -> ``cfq_shim.log.get_task_logger``; see
``celery2cfq.module_imports``), with ``import cfq_shim.<sub>`` added for a submodule the package does
not import itself. And a file whose app is still built by Celery keeps its configuration
(:func:`app_stays_on_celery`, CFQ104): a file must run on one side.
"""

from __future__ import annotations

from typing import Union

import libcst as cst

from ..index import APP_CLASS
from ..module_imports import ModuleImportPlan, is_celery_module, module_import_plans
from ..names import MODULE_TARGETS, PROVIDED
from ._base import Example, Fixer, FileContext, Rule, dotted_name
from .celery_contrib import contrib_message, is_contrib

__all__ = ["ImportsFixer", "app_stays_on_celery"]

RULES = (
    Rule(
        code="CFQ101",
        name="celery-imports",
        title="`from celery… import X` becomes `from cfq_shim… import X`",
        description=(
            "Every name the shim provides is imported from its `cfq_shim` module instead; aliases "
            "(`as C`) and formatting are kept. A statement that also imports names the shim lacks is "
            "split, and the rest stays on Celery (CFQ103)."
        ),
        rewrites=True,
        examples=(
            Example(
                before="from celery import Celery, shared_task\nfrom celery.exceptions import Retry as R\n",
                after="from cfq_shim import Celery, shared_task\nfrom cfq_shim.exceptions import Retry as R\n",
            ),
            Example(
                before="from celery.utils.log import get_task_logger\n",
                after="from cfq_shim.log import get_task_logger\n",
            ),
        ),
    ),
    Rule(
        code="CFQ102",
        name="celery-module-imports",
        title="`import celery` becomes `import cfq_shim`",
        description=(
            "`import celery as c` becomes `import cfq_shim as c`; a plain `import celery` becomes "
            "`import cfq_shim` and its `celery.X` uses become `cfq_shim.X`. Chains through submodules "
            "follow the name table (`celery.utils.log.get_task_logger` -> `cfq_shim.log.get_task_logger`), "
            "and `import cfq_shim.<sub>` is added for a submodule the package does not import itself. "
            "Only when every attribute chain the module uses is provided by the shim; otherwise the "
            "import stays and CFQ103 says why."
        ),
        rewrites=True,
        examples=(
            Example(
                before="import celery as c\n\napp = c.Celery('proj')\n",
                after="import cfq_shim as c\n\napp = c.Celery('proj')\n",
            ),
            Example(
                before="import celery\n\napp = celery.Celery('proj')\n",
                after="import cfq_shim\n\napp = cfq_shim.Celery('proj')\n",
            ),
            Example(
                before="import celery\n\n\ndef skip():\n    raise celery.exceptions.Ignore()\n",
                after="import cfq_shim.exceptions\nimport cfq_shim\n\n\ndef skip():\n    raise cfq_shim.exceptions.Ignore()\n",
            ),
        ),
    ),
    Rule(
        code="CFQ103",
        name="name-not-provided",
        title="A Celery name the shim does not provide",
        description=(
            "The import is left as it is, so the module still needs Celery installed for that name. "
            "Replace the feature, or keep Celery for it. Examples: `celery.bootsteps`, "
            "`celery.bin`; `celery.contrib.*` has its own finding (CFQ510)."
        ),
        examples=(
            Example(
                before="from celery import Celery, bootsteps\n",
                after="from cfq_shim import Celery\nfrom celery import bootsteps\n",
            ),
        ),
    ),
    Rule(
        code="CFQ104",
        name="app-stays-on-celery",
        title="A file whose app is still built by Celery keeps its configuration",
        description=(
            "When the import an app is built through (a call or a class base) stays on Celery (CFQ103, or "
            "an import rule turned off), none of the file's settings are changed: Celery cannot use "
            "`cloudflare://`, so a half-migrated file would run on neither side. The same holds for a "
            "module that imports such an app to configure it, and for the configuration module it loads. "
            "Migrate what CFQ103 names, then run again."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="import celery\n\napp = celery.Celery('proj', broker='redis://localhost')\nStep = celery.bootsteps.StartStopStep\n",
                after="import celery\n\napp = celery.Celery('proj', broker='redis://localhost')\nStep = celery.bootsteps.StartStopStep\n",
            ),
        ),
    ),
)


def _import(module: str) -> cst.Import:
    return cst.Import(names=[cst.ImportAlias(name=_module_node(module))])


def _module_node(dotted: str) -> Union[cst.Name, cst.Attribute]:
    node: Union[cst.Name, cst.Attribute] = cst.Name(dotted.split(".")[0])
    for part in dotted.split(".")[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


class ImportsFixer(Fixer, order=10):
    rules = RULES

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.plans = module_import_plans(ctx.facts)
        #: local module names whose import became cfq_shim: their attribute chains are renamed.
        self.renamed_locals: set[str] = set()
        #: ids of attributes inside a longer attribute chain (only the whole chain is renamed).
        self.inner_attributes: set[int] = set()
        #: id(original import) -> cfq_shim submodules to import on the lines above it.
        self.pending_submodules: dict[int, list[str]] = {}
        self.submodules_added: set[str] = set()

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        new_names = []
        changed = False
        for alias in updated_node.names:
            module = dotted_name(alias.name)
            if not is_celery_module(module):
                new_names.append(alias)
                continue
            assert module is not None
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
            if local is not None and local not in self.ctx.facts.module_bindings:
                self.ctx.report(original_node, "CFQ103", f"`import {module} as {local}` inside a function is left as it is")
                new_names.append(alias)
                continue
            plan = self.plans.get(local or module.split(".")[0])
            if plan is None or plan.missing:
                what = ", ".join(sorted(plan.missing)) if plan is not None else module
                if is_contrib(module) and local is None:
                    self.ctx.report(original_node, "CFQ510", contrib_message(module, []))
                else:
                    self.ctx.report(original_node, "CFQ103", f"`{module}` stays imported: cfq_shim does not provide {what}")
                new_names.append(alias)
                continue
            if not self.ctx.enabled("CFQ102"):
                new_names.append(alias)
                continue
            target = MODULE_TARGETS[module][0]
            new_names.append(alias.with_changes(name=_module_node(target)))
            changed = True
            self.renamed_locals.add(local or module.split(".")[0])
            self.submodules_added.add(target)
            wanted = [m for m in sorted(plan.submodules) if m not in self.submodules_added]
            if wanted:
                self.submodules_added.update(wanted)
                self.pending_submodules.setdefault(id(original_node), []).extend(wanted)
        return updated_node.with_changes(names=new_names) if changed else updated_node

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.inner_attributes.add(id(node.value))

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        if not self.renamed_locals or id(original_node) in self.inner_attributes:
            return updated_node
        chain = dotted_name(original_node)
        if chain is None:
            return updated_node
        head, _, rest = chain.partition(".")
        new = self.plans[head].chains.get(rest) if head in self.renamed_locals else None
        if new is None or new == chain:
            return updated_node
        return _module_node(new).with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Union[cst.SimpleStatementLine, cst.FlattenSentinel[cst.SimpleStatementLine]]:
        result = self._split_imports(original_node, updated_node)
        submodules = [m for statement in original_node.body for m in self.pending_submodules.pop(id(statement), ())]
        if not submodules:
            return result
        # ``cfq_shim.exceptions.X`` needs ``import cfq_shim.exceptions``: the package does not import
        # it. Those imports go on their own lines just above (they bind ``cfq_shim`` too, so order
        # does not matter, and ``import celery; x = celery.exceptions.X`` still works); comments
        # above the line move above them, and findings stay with the line itself.
        lines = list(result.nodes) if isinstance(result, cst.FlattenSentinel) else [result]
        added = [cst.SimpleStatementLine(body=[_import(m)]) for m in submodules]
        added[0] = added[0].with_changes(leading_lines=lines[0].leading_lines)
        lines[0] = lines[0].with_changes(leading_lines=[])
        return cst.FlattenSentinel([*added, *lines])

    def _split_imports(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Union[cst.SimpleStatementLine, cst.FlattenSentinel[cst.SimpleStatementLine]]:
        body: list[cst.BaseSmallStatement] = []
        changed = False
        for original, statement in zip(original_node.body, updated_node.body):
            if isinstance(statement, cst.ImportFrom):
                parts = self._split_import_from(original, statement)
                if parts is not None:
                    changed = True
                    body.extend(parts)
                    continue
            body.append(statement)
        if not changed:
            return updated_node
        if len(body) == 2 and len(updated_node.body) == 1:
            # One import became two: give each its own line, comments stay with the first.
            first = updated_node.with_changes(body=[body[0].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)])
            second = cst.SimpleStatementLine(body=[body[1]])
            return cst.FlattenSentinel([first, second])
        return updated_node.with_changes(body=body)

    def _split_import_from(self, original: cst.ImportFrom, node: cst.ImportFrom) -> list[cst.ImportFrom] | None:
        """None when the statement is unchanged, else one or two statements replacing it."""
        if node.relative or node.module is None:
            return None
        module = dotted_name(node.module)
        if not is_celery_module(module):
            return None
        assert module is not None
        if isinstance(node.names, cst.ImportStar):
            if module not in MODULE_TARGETS:
                self.ctx.report(original, "CFQ103", f"`from {module} import *` is left as it is: cfq_shim has no {module}")
                return None
            self.ctx.report(original, "CFQ103", f"`from {module} import *`: only the names cfq_shim provides are imported now")
            if not self.ctx.enabled("CFQ101"):
                return None
            return [node.with_changes(module=_module_node(MODULE_TARGETS[module][0]))]
        provided: list[cst.ImportAlias] = []
        missing: list[cst.ImportAlias] = []
        for alias in node.names:
            name = dotted_name(alias.name) or ""
            (provided if (module, name) in PROVIDED else missing).append(alias)
        if missing:
            missing_names = [dotted_name(a.name) or "?" for a in missing]
            if is_contrib(module):
                self.ctx.report(original, "CFQ510", contrib_message(module, missing_names))
            else:
                names = ", ".join(missing_names)
                self.ctx.report(original, "CFQ103", f"cfq_shim does not provide {names} (from {module}); left on Celery")
        if not provided or not self.ctx.enabled("CFQ101"):
            return None
        target = PROVIDED[(module, dotted_name(provided[0].name) or "")]
        if not missing:
            return [node.with_changes(module=_module_node(target))]
        last_comma = node.names[-1].comma
        provided[-1] = provided[-1].with_changes(comma=last_comma if node.lpar else cst.MaybeSentinel.DEFAULT)
        missing[-1] = missing[-1].with_changes(comma=last_comma if node.lpar else cst.MaybeSentinel.DEFAULT)
        return [
            node.with_changes(module=_module_node(target), names=provided),
            node.with_changes(names=missing),
        ]


def app_stays_on_celery(ctx: FileContext) -> bool:
    """True when this file builds a Celery app through an import the rewrite leaves on Celery
    (a module import with a name the shim lacks, or a disabled import rule), or configures such an
    app built elsewhere (imports it, or is the configuration module it loads). That app keeps
    running on Celery, so this configuration must stay something Celery can use."""
    facts = ctx.facts
    index = ctx.index
    # Built in another module through an import that stays (the index knows), and configured here.
    if ctx.module in index.celery_side_config_modules:
        return True
    if index.celery_side_apps and any(ctx.resolver.resolve(t) in index.celery_side_apps for t in facts.bindings.values()):
        return True
    # Only names bound to Celery itself can keep an app on Celery; most files have few or none.
    on_celery = {name for name, target in facts.bindings.items() if target == "celery" or target.startswith("celery.")}
    plans: dict[str, ModuleImportPlan] | None = None
    for ref, heads in facts.ref_heads.items():
        if on_celery.isdisjoint(heads) or ctx.resolver.kind(ref) != APP_CLASS:
            continue
        for head in heads & on_celery:
            target = facts.bindings[head]
            if head in facts.module_bindings:
                if plans is None:
                    plans = module_import_plans(facts)
                plan = plans.get(head)
                if plan is not None and (plan.missing or not ctx.enabled("CFQ102")):
                    return True
            elif target.startswith("celery."):
                module, _, name = target.rpartition(".")
                if (module, name) not in PROVIDED or not ctx.enabled("CFQ101"):
                    return True
    return False
