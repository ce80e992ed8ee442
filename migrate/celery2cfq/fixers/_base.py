"""What every fixer shares: the rule record (code, title, description, examples), the per-file state
object fixers read and report into, and small helpers for LibCST nodes.

Fixers are small classes with LibCST-style ``visit_<Node>``/``leave_<Node>`` methods. The
transform runs all of them in one pass over one tree (see ``celery2cfq.transform``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import ClassVar, Sequence, TypeVar

import libcst as cst

from .._facts import ModuleFacts, is_celery_library
from ..index import ProjectIndex, Resolver
from ..model import Options
from ..names import celery_equivalent

__all__ = [
    "Example", "Rule", "Fixer", "FileContext", "dotted_name", "string_value", "remove_args", "keyword_name",
    "registered_fixers",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Example:
    """A before/after pair; the docs and a test are generated from these. ``files`` are other
    modules of the example project (path -> source), indexed with it; ``options`` the run's
    options (``--result-backend`` and the like)."""

    before: str
    after: str
    path: str = "proj/tasks.py"
    files: tuple[tuple[str, str], ...] = ()
    #: Run options (``Options`` field -> value), shown as the command-line flags.
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    title: str
    description: str
    examples: tuple[Example, ...] = ()
    #: True when the rule changes code; False when it only reports.
    rewrites: bool = False


@dataclass
class FileContext:
    """Per-file state: what the fixers know about this module and what they found."""

    path: str
    module: str
    source: str
    options: Options
    index: ProjectIndex
    resolver: Resolver
    facts: ModuleFacts
    #: setting-name prefix when this module is a configuration module, else None.
    config_prefix: str | None = None
    #: (original node, code, message, innermost enclosing statement, top-level statement)
    reports: list[tuple[cst.CSTNode, str, str, cst.CSTNode | None, cst.CSTNode | None]] = field(default_factory=list)
    call_sites: int = 0
    statement_stack: list[cst.CSTNode] = field(default_factory=list)
    #: Names assigned from a task call's result (``r = add.delay()``), for result ``.get()``.
    result_names: set[str] = field(default_factory=set)

    def enabled(self, code: str) -> bool:
        return self.options.enabled(code)

    def report(self, node: cst.CSTNode, code: str, message: str) -> None:
        if self.enabled(code):
            stack = self.statement_stack
            self.reports.append((node, code, message, stack[-1] if stack else None, stack[0] if stack else None))

    def qualify(self, node: cst.BaseExpression) -> str | None:
        """The qualified name an expression like ``app.task`` refers to, through this module's
        top-level bindings; None when it is not a plain dotted name bound at module level."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        target = self.facts.bindings.get(head)
        if target is None:
            if not self._defined_here(head):
                return None
            target = f"{self.module}.{head}" if self.module else head
        return f"{target}.{rest}" if rest else target

    def _defined_here(self, name: str) -> bool:
        qualified = f"{self.module}.{name}" if self.module else name
        return qualified in self.resolver.kinds

    def kind(self, node: cst.BaseExpression) -> str | None:
        return self.resolver.kind(self.qualify(node))

    def library_name(self, node: cst.BaseExpression) -> str | None:
        """Celery's spelling of a library name (``celery.group``) the expression refers to."""
        qualified = self.qualify(node)
        if qualified is None:
            return None
        resolved = self.resolver.resolve(qualified)
        return celery_equivalent(resolved) if is_celery_library(resolved) else None


class Fixer:
    """Base class: subclasses set ``rules`` and define ``visit_*``/``leave_*`` methods taking
    (original_node, updated_node) like a LibCST transformer.

    A subclass joins the pass by naming its place in it: ``class ImportsFixer(Fixer, order=10)``.
    Fixers run on each node in ascending ``order`` (they compose on the same tree, so the import
    rewrite, which later fixers rely on, comes first). A subclass without ``order`` is not
    registered (a base class, or a test's own fixer)."""

    rules: ClassVar[Sequence[Rule]] = ()
    order: ClassVar[int]

    def __init_subclass__(cls, *, order: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if order is not None:
            cls.order = order
            register_at(_FIXERS, order, cls, cls.__qualname__)

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx


_FIXERS: dict[int, type[Fixer]] = {}


def register_at(registry: dict[int, T], order: int, item: T, name: str) -> None:
    """Put ``item`` at ``order``; two items at one place would make the pass order arbitrary."""
    taken = registry.get(order)
    if taken is not None and taken is not item:
        raise RuntimeError(f"{name} and {getattr(taken, '__qualname__', taken)} both ask for order {order}")
    registry[order] = item


def registered_fixers() -> tuple[type[Fixer], ...]:
    """Every registered fixer class, in pass order."""
    return tuple(_FIXERS[order] for order in sorted(_FIXERS))

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        return tuple(rule.code for rule in cls.rules)


def has_result_backend(ctx: FileContext) -> bool:
    """Whether the project configures a result backend (anywhere, in any form the index reads)."""
    facts = ctx.facts
    return ctx.index.has_result_backend or facts.sets_backend_setting or bool(facts.backend_call_refs)


def dotted_name(node: cst.CSTNode) -> str | None:
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def string_value(node: cst.CSTNode | None) -> str | None:
    """The text of a plain or implicitly concatenated string literal (no f-strings)."""
    if isinstance(node, cst.SimpleString):
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        left, right = string_value(node.left), string_value(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def keyword_name(arg: cst.Arg) -> str | None:
    return arg.keyword.value if arg.keyword is not None else None


def remove_args(args: Sequence[cst.Arg], drop: set[int]) -> list[cst.Arg]:
    """``args`` without the positions in ``drop``, keeping the call's comma style: when the last
    argument goes, the new last one takes its comma (a trailing comma stays a trailing comma)."""
    if not drop:
        return list(args)
    kept = [arg for i, arg in enumerate(args) if i not in drop]
    if kept and (len(args) - 1) in drop:
        kept[-1] = kept[-1].with_changes(comma=args[-1].comma)
    return kept


def quoted_like(original: cst.CSTNode, text: str) -> cst.SimpleString:
    """A string literal for ``text`` in the quote style of ``original`` when it is a plain string."""
    quote = '"'
    if isinstance(original, cst.SimpleString) and original.quote in ("'", '"'):
        quote = original.quote
    if quote in text or "\\" in text or "\n" in text:
        return cst.SimpleString(repr(text))
    return cst.SimpleString(f"{quote}{text}{quote}")
