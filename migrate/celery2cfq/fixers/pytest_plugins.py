"""``pytest_plugins`` entries naming ``celery.contrib.pytest`` are removed (CFQ105).

cfq_shim installs its pytest plugin (``cfq_shim.contrib.pytest``: Celery's fixtures with the same
names and scopes) through the ``pytest11`` entry point, so pytest loads it in every run without
being asked. Rewriting the entry to ``"cfq_shim.contrib.pytest"`` would register that module a
second time under another name, and pytest stops collecting with "ValueError: Plugin already
registered under a different name"; keeping ``"celery.contrib.pytest"`` would load Celery's
fixtures over the shim's. So the entry goes, and with it the whole statement when it was the only
one. Imports from ``celery.contrib.pytest`` and ``celery.contrib.testing.worker`` are rewritten by
the import rule (CFQ101).

Only a module-level ``pytest_plugins = ...`` (a string, list or tuple) is read, as pytest does.
With ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, entry points are not loaded: such a run needs
``-p cfq_shim`` on its command line.
"""

from __future__ import annotations

from typing import Union

import libcst as cst

from ..names import CELERY_PYTEST_PLUGIN
from ._base import Example, FileContext, Fixer, Rule, string_value

__all__ = ["PytestPluginsFixer"]

RULES = (
    Rule(
        code="CFQ105",
        name="celery-pytest-plugin",
        title="`pytest_plugins` drops `celery.contrib.pytest`: cfq_shim's plugin loads itself",
        description=(
            "cfq_shim's pytest plugin has Celery's fixtures (`celery_app`, `celery_worker`, `celery_config`, "
            "`celery_session_app`, `celery_session_worker`, ...) and is installed as a `pytest11` entry point, so "
            "pytest loads it without being named. The `celery.contrib.pytest` entry is removed rather than "
            "renamed: naming `cfq_shim.contrib.pytest` again would register the plugin twice, which pytest "
            "refuses (\"Plugin already registered under a different name\"). The statement goes when it named "
            "nothing else. Runs with `PYTEST_DISABLE_PLUGIN_AUTOLOAD` set need `-p cfq_shim`."
        ),
        rewrites=True,
        examples=(
            Example(
                path="tests/conftest.py",
                before='import pytest\n\npytest_plugins = ("celery.contrib.pytest",)\n\n\n@pytest.fixture\ndef celery_config():\n    return {}\n',
                after="import pytest\n\n\n@pytest.fixture\ndef celery_config():\n    return {}\n",
            ),
            Example(
                path="tests/conftest.py",
                before='pytest_plugins = ["celery.contrib.pytest", "tests.fixtures"]\n',
                after='pytest_plugins = ["tests.fixtures"]\n',
            ),
            Example(
                path="tests/test_worker.py",
                before="from celery.contrib.testing.worker import start_worker\n",
                after="from cfq_shim.contrib.testing.worker import start_worker\n",
            ),
        ),
    ),
)

_Sequence = Union[cst.List, cst.Tuple]


class PytestPluginsFixer(Fixer, order=140):
    rules = RULES

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        #: how deep in indented blocks the pass is: pytest reads only a module-level ``pytest_plugins``.
        self.depth = 0

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.depth += 1

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        self.depth -= 1
        return updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Union[cst.SimpleStatementLine, cst.RemovalSentinel]:
        if self.depth or not self.ctx.enabled("CFQ105") or len(updated_node.body) != 1:
            return updated_node
        statement = updated_node.body[0]
        if not (
            isinstance(statement, cst.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0].target, cst.Name)
            and statement.targets[0].target.value == "pytest_plugins"
        ):
            return updated_node
        value = statement.value
        if string_value(value) == CELERY_PYTEST_PLUGIN:
            self.ctx.report(original_node, "CFQ105", _MESSAGE)
            return cst.RemoveFromParent()
        if not isinstance(value, (cst.List, cst.Tuple)):
            return updated_node
        kept = [element for element in value.elements if string_value(element.value) != CELERY_PYTEST_PLUGIN]
        if len(kept) == len(value.elements):
            return updated_node
        self.ctx.report(original_node, "CFQ105", _MESSAGE)
        if not kept:
            return cst.RemoveFromParent()
        return updated_node.with_changes(body=[statement.with_changes(value=_without(value, kept))])


_MESSAGE = (
    "removed celery.contrib.pytest from pytest_plugins: cfq_shim's plugin (same fixtures) is loaded through its "
    "pytest11 entry point, and naming it again would register it twice"
)


def _without(value: _Sequence, kept: list[cst.Element]) -> _Sequence:
    """``value`` with only ``kept``; the last element keeps the original's trailing comma, and a
    one-element tuple keeps (or gets) the comma that makes it a tuple."""
    last_comma = value.elements[-1].comma
    kept = list(kept)
    if isinstance(value, cst.Tuple) and len(kept) == 1 and not isinstance(last_comma, cst.Comma):
        last_comma = cst.Comma()
    kept[-1] = kept[-1].with_changes(comma=last_comma)
    return value.with_changes(elements=kept)
