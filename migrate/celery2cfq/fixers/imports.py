"""Imports from Celery become imports from ``cfq_shim``.

``cfq_shim`` keeps Celery's public names (see ``celery2cfq.names``), so only the module changes:
``from celery import Celery as C`` becomes ``from cfq_shim import Celery as C``, and
``import celery as c`` becomes ``import cfq_shim as c`` when every ``c.X`` the module uses is
provided. An import that mixes provided and missing names is split in two. Names the shim does not
provide are left alone and reported (CFQ103), so the code keeps importing them from Celery until a
human decides.
"""

from __future__ import annotations

from typing import Union

import libcst as cst

from ..names import MODULE_TARGETS, PROVIDED
from ._base import Example, Fixer, FileContext, Rule, dotted_name

__all__ = ["ImportsFixer"]

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
            "`import cfq_shim` and its `celery.X` uses become `cfq_shim.X`. Only when every attribute "
            "the module uses is provided by the shim; otherwise the import stays and CFQ103 says why."
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
        ),
    ),
    Rule(
        code="CFQ103",
        name="name-not-provided",
        title="A Celery name the shim does not provide",
        description=(
            "The import is left as it is, so the module still needs Celery installed for that name. "
            "Replace the feature, or keep Celery for it. Examples: `celery.bootsteps`, "
            "`celery.contrib.*`, `celery.bin`."
        ),
        examples=(
            Example(
                before="from celery import Celery, bootsteps\n",
                after="from cfq_shim import Celery\nfrom celery import bootsteps\n",
            ),
        ),
    ),
)


def _module_node(dotted: str) -> Union[cst.Name, cst.Attribute]:
    node: Union[cst.Name, cst.Attribute] = cst.Name(dotted.split(".")[0])
    for part in dotted.split(".")[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def _is_celery_module(module: str | None) -> bool:
    return module is not None and (module == "celery" or module.startswith("celery.") or module in MODULE_TARGETS)


class ImportsFixer(Fixer):
    rules = RULES

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        #: local names of ``import celery[...]`` that become cfq_shim, and plain ``import celery``.
        self.rename_bare_celery = False

    def _plain_module_rewritable(self, local: str, module: str) -> tuple[bool, set[str]]:
        uses = self.ctx.facts.module_attr_uses.get(local, set())
        provided = MODULE_TARGETS[module][1] if module in MODULE_TARGETS else frozenset()
        missing = {u or "<the module itself>" for u in uses if u not in provided}
        return module in MODULE_TARGETS and not missing, missing

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        new_names = []
        changed = False
        for alias in updated_node.names:
            module = dotted_name(alias.name)
            if not _is_celery_module(module):
                new_names.append(alias)
                continue
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
            if local is None and module != "celery":
                self.ctx.report(original_node, "CFQ103", f"`import {module}` is left as it is: use `from {module} import …` names the shim provides")
                new_names.append(alias)
                continue
            if local is not None and local not in self.ctx.facts.module_bindings:
                self.ctx.report(original_node, "CFQ103", f"`import {module} as {local}` inside a function is left as it is")
                new_names.append(alias)
                continue
            ok, missing = self._plain_module_rewritable(local or "celery", module)
            if not ok:
                what = ", ".join(sorted(missing)) if missing else module
                self.ctx.report(original_node, "CFQ103", f"`{module}` stays imported: cfq_shim does not provide {what}")
                new_names.append(alias)
                continue
            if not self.ctx.enabled("CFQ102"):
                new_names.append(alias)
                continue
            target = MODULE_TARGETS[module][0]
            new_names.append(alias.with_changes(name=_module_node(target)))
            changed = True
            if local is None:
                self.rename_bare_celery = True
        return updated_node.with_changes(names=new_names) if changed else updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if self.rename_bare_celery and isinstance(updated_node.value, cst.Name) and updated_node.value.value == "celery":
            return updated_node.with_changes(value=cst.Name("cfq_shim"))
        return updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Union[cst.SimpleStatementLine, cst.FlattenSentinel[cst.SimpleStatementLine]]:
        lines: list[cst.SimpleStatementLine] = []
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
            lines = [first, second]
            return cst.FlattenSentinel(lines)
        return updated_node.with_changes(body=body)

    def _split_import_from(self, original: cst.ImportFrom, node: cst.ImportFrom) -> list[cst.ImportFrom] | None:
        """None when the statement is unchanged, else one or two statements replacing it."""
        if node.relative or node.module is None:
            return None
        module = dotted_name(node.module)
        if not _is_celery_module(module):
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
            names = ", ".join(dotted_name(a.name) or "?" for a in missing)
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
