"""One file: parse once with LibCST, run every fixer in one pass, return the new text and findings.

Order of work, cheapest first:
1. ``ast`` (or LibCST plus lowering, for syntax the running Python lacks) summarises the module and
   the project index says what its names are. A file with nothing Celery in it stops here, without
   the LibCST parse (the pre-filter keeps such files when, say, they only mention "task").
2. LibCST parses the file once; one transformer dispatches each node to every fixer that handles
   its type, in a fixed order, so fixers compose on the same tree. Imports are rewritten in place in
   that same pass (renaming a statement's module, or splitting it in two), which keeps comments and
   formatting and needs no scope analysis.
3. Line numbers for findings come from position metadata, computed only when there are findings,
   over the tree already parsed. No file is parsed twice here; the engine's verifying re-run is
   its own.
"""

from __future__ import annotations

import ast
from typing import Callable, Union

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .fixers import FIXERS, SETTING_HANDLERS
from .fixers._base import FileContext, Fixer
from .fixers._settings import SettingsFixer
from .index import TASK, ModuleFacts, ProjectIndex, analyze_module, is_celery_library, parse_for_index
from .model import Finding, Options, SourceError, Transformed

__all__ = ["transform_source"]

_STATEMENT_TYPES = (cst.SimpleStatementLine, cst.BaseCompoundStatement)
_TODO_PREFIX = "# TODO(celery2cfq): "


def transform_source(source: str, *, path: str, index: ProjectIndex, options: Options) -> Transformed:
    """Rewrite one file's text. ``path`` is relative to the project root (``/`` separators).
    Raises :class:`SourceError` ("line N: reason") when the text does not parse."""
    module, is_package = index.module_for_path(path)
    tree = parse_for_index(source)
    facts = analyze_module(tree, module, is_package=is_package) if tree is not None else ModuleFacts(module=module)
    resolver = index.resolver()
    resolver.add_module(facts)
    resolver.settle([facts])
    prefix = f"{module}." if module else ""
    task_names = {name for name, rule, _, _ in facts.defs if rule != "class" and resolver.kinds.get(prefix + name) == TASK}

    if tree is not None and not _needs_rewrite_pass(source, facts, resolver, index, module):
        return Transformed(source=source)

    try:
        parsed = cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        raise SourceError(_syntax_error_text(source, error)) from None
    except (ValueError, RecursionError) as error:  # null bytes, absurd nesting
        raise SourceError(f"cannot parse: {error}") from None

    ctx = FileContext(
        path=path,
        module=module,
        source=source,
        options=options,
        index=index,
        resolver=resolver,
        facts=facts,
        config_prefix=index.config_modules.get(module),
    )
    fixers: list[Fixer] = [cls(ctx) for cls in FIXERS]
    fixers.insert(1, SettingsFixer(ctx, SETTING_HANDLERS))
    new_tree = parsed.visit(_OnePass(ctx, fixers))

    findings: tuple[Finding, ...] = ()
    if ctx.reports:
        positions = MetadataWrapper(parsed, unsafe_skip_copy=True).resolve(PositionProvider)
        findings = tuple(
            sorted(
                Finding(line=positions[node].start.line, column=positions[node].start.column, code=code, message=message)
                for node, code, message, _ in ctx.reports
            )
        )
    return Transformed(source=new_tree.code, findings=findings, tasks_found=len(task_names), call_sites=ctx.call_sites)


def _syntax_error_text(source: str, error: cst.ParserSyntaxError) -> str:
    """"line N: reason", with Python's own wording and line when it also rejects the text
    (LibCST's native parser can place the error a token late)."""
    try:
        ast.parse(source)
    except SyntaxError as python_error:
        if python_error.lineno:
            return f"line {python_error.lineno}: {python_error.msg}"
    except ValueError:
        pass
    return f"line {error.raw_line}: {error.message}"


def _needs_rewrite_pass(source: str, facts: ModuleFacts, resolver, index: ProjectIndex, module: str) -> bool:
    if facts.mentions_celery or module in index.config_modules:
        return True
    if "CELERY_" in source or "django_celery_beat" in source:
        return True
    if any(resolver.kinds.get(f"{module}.{name}" if module else name) for name in facts.assigned):
        return True
    for target in facts.bindings.values():
        resolved = resolver.resolve(target)
        if resolver.kind(resolved) or resolved in index.celery_modules or is_celery_library(resolved):
            return True
    return False


class _OnePass(cst.CSTTransformer):
    """Dispatches each node to the fixers' ``visit_<Type>``/``leave_<Type>`` methods, keeps the
    stack of enclosing statements (findings attach to the innermost), and adds TODO comments."""

    def __init__(self, ctx: FileContext, fixers: list[Fixer]) -> None:
        super().__init__()
        self.ctx = ctx
        self.visitors: dict[str, list[Callable]] = {}
        self.leavers: dict[str, list[Callable]] = {}
        for fixer in fixers:
            for attr in dir(type(fixer)):
                if attr.startswith("visit_"):
                    self.visitors.setdefault(attr[6:], []).append(getattr(fixer, attr))
                elif attr.startswith("leave_"):
                    self.leavers.setdefault(attr[6:], []).append(getattr(fixer, attr))

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _STATEMENT_TYPES):
            self.ctx.statement_stack.append(node)
        for visit in self.visitors.get(type(node).__name__, ()):
            visit(node)
        return True

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel]:
        result: Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel] = updated_node
        for leave in self.leavers.get(type(original_node).__name__, ()):
            result = leave(original_node, result)
            if not isinstance(result, cst.CSTNode):
                break
        if isinstance(original_node, _STATEMENT_TYPES):
            self.ctx.statement_stack.pop()
            if self.ctx.options.todo_comments:
                result = self._with_todo_comments(original_node, result)
        return result

    def _with_todo_comments(self, original: cst.CSTNode, result):
        texts = [f"{_TODO_PREFIX}{code} {message}" for _, code, message, statement in self.ctx.reports if statement is original]
        if not texts:
            return result
        if isinstance(result, cst.FlattenSentinel):
            # A split import: the findings are about the part left on Celery, the last statement
            # (where a second run finds them too).
            nodes = list(result.nodes)
            nodes[-1] = self._with_todo_comments(original, nodes[-1])
            return cst.FlattenSentinel(nodes)
        if not isinstance(result, _STATEMENT_TYPES):
            return result
        existing = {line.comment.value for line in result.leading_lines if line.comment is not None}
        added = [cst.EmptyLine(indent=True, comment=cst.Comment(text)) for text in dict.fromkeys(texts) if text not in existing]
        if not added:
            return result
        return result.with_changes(leading_lines=[*result.leading_lines, *added])
