"""Lower syntax the running Python's ``ast`` cannot read (PEP 695 ``type`` and type parameters,
PEP 701/750 f- and t-strings, PEP 758 ``except A, B:`` without brackets) to older syntax that binds the same names, for the index only.

The index needs bindings, decorators and calls; string contents and type parameters do not matter
to it, so they are simplified away. The rewritten code is never written anywhere.
"""

from __future__ import annotations

import libcst as cst

__all__ = ["lower_for_ast"]


class _Lower(cst.CSTTransformer):
    def leave_TypeAlias(self, original_node: cst.TypeAlias, updated_node: cst.TypeAlias) -> cst.Assign:
        return cst.Assign(targets=[cst.AssignTarget(updated_node.name)], value=updated_node.value)

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        return updated_node.with_changes(type_parameters=None)

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        return updated_node.with_changes(type_parameters=None)

    def leave_FormattedString(self, original_node: cst.FormattedString, updated_node: cst.FormattedString) -> cst.SimpleString:
        return cst.SimpleString('""')

    def leave_ExceptHandler(self, original_node: cst.ExceptHandler, updated_node: cst.ExceptHandler) -> cst.ExceptHandler:
        return updated_node.with_changes(type=_bracketed(updated_node.type))

    def leave_ExceptStarHandler(
        self, original_node: cst.ExceptStarHandler, updated_node: cst.ExceptStarHandler
    ) -> cst.ExceptStarHandler:
        return updated_node.with_changes(type=_bracketed(updated_node.type))

    def leave_TemplatedString(self, original_node: cst.TemplatedString, updated_node: cst.TemplatedString) -> cst.SimpleString:
        return cst.SimpleString('""')


def _bracketed(expression: cst.BaseExpression | None) -> cst.BaseExpression | None:
    """``A, B`` -> ``(A, B)``: before Python 3.14 an except clause's tuple needs brackets."""
    if isinstance(expression, cst.Tuple) and not expression.lpar:
        return expression.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expression


def lower_for_ast(source: str) -> str | None:
    """The lowered source, or None when LibCST cannot parse it either."""
    try:
        return cst.parse_module(source).visit(_Lower()).code
    except (cst.ParserSyntaxError, ValueError, RecursionError, MemoryError):
        return None
