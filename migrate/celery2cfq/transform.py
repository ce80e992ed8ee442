"""One file: every fixer in one pass over a LibCST tree parsed once, the new text and findings.

Order of work, cheapest first:
1. ``ast`` (or LibCST plus lowering, for syntax the running Python lacks) summarises the module in
   one walk, and the project index says what its names are. A file with nothing Celery in it stops
   here, without any LibCST parse (the pre-filter keeps such files when, say, they mention "task").
2. The same walk says which statements could interest a fixer (they use a name tied to Celery, a
   ``CELERY_`` setting, an import, ...). Only the top-level statements holding one are parsed with
   LibCST, each once, as its own small module; the text of the others is copied as it is. Parsing
   and code generation are most of the cost, and most of a real module is not Celery code. Inside a
   parsed statement, nested statements without anything of interest are not walked either.
3. One transformer dispatches each node to every fixer that handles its type, in a fixed order, so
   fixers compose on the same tree. Imports are rewritten in place in that same pass (renaming a
   statement's module, or splitting it in two), which keeps comments and formatting and needs no
   scope analysis.
4. Line numbers come from position metadata, computed only for parsed chunks that have findings.

When statements cannot be cut apart by lines (backslash continuations) or the running Python's
``ast`` cannot read the file, the whole module is parsed with LibCST instead; the results are the
same (tests/migrate/fixers/test_transform.py checks that every mode agrees).
"""

from __future__ import annotations

import ast
from typing import Callable, Mapping, Sequence, Union

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .fixers import FIXERS
from .fixers._base import FileContext, Fixer
from ._facts import DefinitionForm, ModuleFacts, analyze_module, is_celery_library, parse_lowered, parse_with_ast, too_deep_for_python
from .index import TASK, ProjectIndex
from .model import Finding, Options, SourceError, Transformed

__all__ = ["transform_source"]

_STATEMENT_TYPES = (cst.SimpleStatementLine, cst.BaseCompoundStatement)
#: Nodes whose children no fixer looks at (whitespace, punctuation, operators, number literals):
#: their subtrees are not walked. Their own leave handlers still run.
_NO_DESCEND = (
    cst.BaseParenthesizableWhitespace, cst.TrailingWhitespace, cst.EmptyLine, cst.Newline, cst.Comment,
    cst.Comma, cst.Colon, cst.Dot, cst.Semicolon, cst.AssignEqual, cst.LeftParen, cst.RightParen,
    cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
    cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp,
    cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Name, cst.ImportStar,
)
_TODO_PREFIX = "# TODO(celery2cfq): "


def transform_source(source: str, *, path: str, index: ProjectIndex, options: Options) -> Transformed:
    """Rewrite one file's text. ``path`` is relative to the project root (``/`` separators).
    Raises :class:`SourceError` ("line N: reason") when the text does not parse."""
    module, is_package = index.module_for_path(path)
    exact_tree, ast_error = parse_with_ast(source)
    if too_deep_for_python(ast_error):
        line = getattr(ast_error, "lineno", None)
        raise SourceError(f"line {line}: nested too deeply for Python" if line else "nested too deeply for Python")
    # Without an exact tree, ``ast`` rejected the text (not for depth): newer syntax, or a real error.
    tree = exact_tree if exact_tree is not None else parse_lowered(source)
    facts = analyze_module(tree, module, is_package=is_package, track_statements=True) if tree is not None else ModuleFacts(module=module)
    resolver = index.resolver()
    resolver.add_module(facts)
    resolver.settle([facts])
    prefix = f"{module}." if module else ""
    task_names = {
        d.name for d in facts.defs if d.form is not DefinitionForm.SUBCLASS and resolver.kinds.get(prefix + d.name) == TASK
    }

    celery_names = _celery_names(facts, resolver, index, module)
    # A settings mapping under a key (Flask's CELERY=dict(...)) can sit in any statement.
    mapping_keys_here = any(key in source for key in index.config_mapping_keys)
    if tree is not None and not (celery_names or mapping_keys_here or _mentions_celery(source, facts, index, module)):
        return Transformed(source=source)

    config_prefix = index.config_modules.get(module)
    #: ids of the ``ast`` statements a fixer could act in; None: all of them (a config module).
    interesting: set[int] | None = None
    if exact_tree is not None and config_prefix is None and not mapping_keys_here:
        interesting = set(facts.always_interesting)
        # "celery": the module imported inside a function, whose uses the import rewrite renames.
        for name in {"celery"} | celery_names | facts.result_names | facts.inspector_names:
            interesting.update(facts.name_owners.get(name, ()))

    def new_pass() -> _OnePass:
        ctx = FileContext(
            path=path, module=module, source=source, options=options, index=index,
            resolver=resolver, facts=facts, config_prefix=config_prefix,
        )
        return _OnePass(ctx, [cls(ctx) for cls in FIXERS], skip=set())

    if exact_tree is not None:
        one_pass = new_pass()
        chunked = _transform_chunks(source, exact_tree, one_pass, interesting)
        if chunked is not None:
            new_source, findings = chunked
            return Transformed(source=new_source, findings=findings, tasks_found=len(task_names), call_sites=one_pass.ctx.call_sites)

    # The whole module at once: newer syntax than the running Python, or text the statement
    # chunks cannot represent (backslash continuations).
    try:
        parsed = cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        raise SourceError(_syntax_error_text(source, error)) from None
    except (ValueError, RecursionError) as error:  # null bytes, absurd nesting
        raise SourceError(f"cannot parse: {error}") from None
    one_pass = new_pass()
    stmt_map = _align(parsed, exact_tree) if exact_tree is not None else None
    if stmt_map is not None and interesting is not None:
        one_pass.skip = _skipped(stmt_map, interesting)
    new_tree = parsed.visit(one_pass)
    findings = tuple(sorted(_findings(one_pass.ctx, parsed)))
    new_source = new_tree.code if one_pass.changes else source
    return Transformed(source=new_source, findings=findings, tasks_found=len(task_names), call_sites=one_pass.ctx.call_sites)


def _skipped(stmt_map: Mapping[int, list[ast.stmt]], interesting: set[int]) -> set[int]:
    return {node_id for node_id, ast_nodes in stmt_map.items() if not any(id(n) in interesting for n in ast_nodes)}


def _chunk_lines(source: str, tree: ast.Module) -> list[tuple[int, int, list[ast.stmt]]] | None:
    """Split the module into top-level chunks (first line, last line, ``ast`` statements): a chunk
    runs from the line after the previous chunk to the last line of its statement, so comments and
    blank lines above a statement travel with it. Statements sharing a line (``a; b``) share a
    chunk. None when lines cannot be trusted to separate statements (backslash continuations)."""
    if "\\\n" in source or "\\\r" in source:
        return None
    chunks: list[tuple[int, int, list[ast.stmt]]] = []
    for statement in tree.body:
        end = statement.end_lineno or statement.lineno
        if chunks and statement.lineno <= chunks[-1][1]:
            first, last, members = chunks[-1]
            chunks[-1] = (first, max(last, end), [*members, statement])
        else:
            chunks.append((chunks[-1][1] + 1 if chunks else 1, end, [statement]))
    return chunks


def _runs(chunks, interesting: set[int] | None):
    """Consecutive chunks merged while they are all wanted or all not: (first, last, members, wanted).
    One parse per run of interesting statements costs less than one per statement."""
    runs: list[tuple[int, int, list[ast.stmt], bool]] = []
    for first, last, members in chunks:
        wanted = interesting is None or any(id(m) in interesting for m in members)
        if runs and runs[-1][3] == wanted:
            run_first, _, run_members, _ = runs[-1]
            runs[-1] = (run_first, last, [*run_members, *members], wanted)
        else:
            runs.append((first, last, list(members), wanted))
    return runs


def _transform_chunks(source: str, tree: ast.Module, one_pass: "_OnePass", interesting: set[int] | None):
    """Parse and rewrite only the top-level statements a fixer can act in, each as its own small
    module, and copy the other statements' text as it is: parsing and code generation are most of
    the cost, and in a real module much of the code has nothing Celery in it. Returns (new text,
    findings), or None when a chunk does not parse on its own (the caller then takes the whole
    module, which reports a real syntax error)."""
    chunks = _chunk_lines(source, tree)
    if chunks is None:
        return None
    lines = source.splitlines(keepends=True)
    pieces: list[str] = []
    findings: list[Finding] = []
    ctx = one_pass.ctx
    for first, last, members, wanted in _runs(chunks, interesting):
        text = "".join(lines[first - 1 : last])
        if not wanted:
            pieces.append(text)
            continue
        try:
            snippet = cst.parse_module(text)
        except (cst.ParserSyntaxError, ValueError, RecursionError):
            return None
        stmt_map: dict[int, list[ast.stmt]] = {}
        if interesting is not None and _align_body(snippet.body, members, stmt_map):
            one_pass.skip = _skipped(stmt_map, interesting)
        else:
            one_pass.skip = set()
        changes_before = one_pass.changes
        new_snippet = snippet.visit(one_pass)
        findings.extend(_findings(ctx, snippet, first))
        ctx.reports.clear()
        pieces.append(new_snippet.code if one_pass.changes != changes_before else text)
    pieces.append("".join(lines[chunks[-1][1] :] if chunks else lines))
    return "".join(pieces), tuple(sorted(findings))


def _align(parsed: cst.Module, tree: ast.Module) -> dict[int, list[ast.stmt]] | None:
    """Map id(LibCST statement) -> its ``ast`` statements (``a; b`` is one LibCST line, two ``ast``
    statements), at module level and inside function and class bodies; None when they do not
    line up."""
    stmt_map: dict[int, list[ast.stmt]] = {}
    return stmt_map if _align_body(parsed.body, tree.body, stmt_map) else None


def _align_body(cst_body: Sequence[cst.CSTNode], ast_body: list[ast.stmt], out: dict[int, list[ast.stmt]]) -> bool:
    position = 0
    for node in cst_body:
        count = len(node.body) if isinstance(node, cst.SimpleStatementLine) else 1
        ast_nodes = ast_body[position : position + count]
        if len(ast_nodes) != count:
            return False
        out[id(node)] = ast_nodes
        position += count
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and isinstance(node.body, cst.IndentedBlock):
            inner = ast_nodes[0]
            if not isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                return False
            if not _align_body(node.body.body, inner.body, out):
                return False
    return position == len(ast_body)


def _celery_names(facts: ModuleFacts, resolver, index: ProjectIndex, module: str) -> set[str]:
    """Module-level names that can lead to Celery: bound to a known app/task/decorator, to Celery
    itself, or to a project module that defines such names."""
    prefix = f"{module}." if module else ""
    names = {name for name in facts.assigned if resolver.kinds.get(prefix + name)}
    for name, target in facts.bindings.items():
        resolved = resolver.resolve(target)
        if resolver.kind(resolved) or is_celery_library(resolved) or resolved in index.celery_modules:
            names.add(name)
    return names


def _findings(ctx: FileContext, parsed: cst.Module, first_line: int = 1) -> list[Finding]:
    """Findings with 1-based lines; ``parsed`` starts at ``first_line`` of the file."""
    if not ctx.reports:
        return []
    positions = MetadataWrapper(parsed, unsafe_skip_copy=True).resolve(PositionProvider)
    findings = []
    for node, code, message, _, _ in ctx.reports:
        start = positions[node].start
        findings.append(Finding(line=start.line + first_line - 1, column=start.column, code=code, message=message))
    return findings


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


def _mentions_celery(source: str, facts: ModuleFacts, index: ProjectIndex, module: str) -> bool:
    """Whether the module names Celery itself: an import, a configuration module, a setting."""
    return (facts.mentions_celery or module in index.config_modules
            or "CELERY_" in source or "django_celery_beat" in source)


class _OnePass(cst.CSTTransformer):
    """Dispatches each node to the fixers' ``visit_<Type>``/``leave_<Type>`` methods, keeps the
    stack of enclosing statements (findings attach to the innermost), and adds TODO comments."""

    def __init__(self, ctx: FileContext, fixers: list[Fixer], *, skip: set[int]) -> None:
        super().__init__()
        self.ctx = ctx
        #: ids of statements no fixer can act in: their children are not visited.
        self.skip = skip
        #: how many times a fixer returned a new node (none: the source is returned as it was).
        self.changes = 0
        self.header_comments: set[str] = set()
        self.visitors: dict[str, list[Callable]] = {}
        self.leavers: dict[str, list[Callable]] = {}
        for fixer in fixers:
            for attr in dir(type(fixer)):
                if attr.startswith("visit_"):
                    self.visitors.setdefault(attr[6:], []).append(getattr(fixer, attr))
                elif attr.startswith("leave_"):
                    self.leavers.setdefault(attr[6:], []).append(getattr(fixer, attr))
        #: per node type: (visit handlers, leave handlers, is a statement, descend into children)
        self.plan: dict[type, tuple[list[Callable], list[Callable], bool, bool]] = {}

    def _plan(self, node_type: type) -> tuple[list[Callable], list[Callable], bool, bool]:
        name = node_type.__name__
        plan = (
            self.visitors.get(name, []),
            self.leavers.get(name, []),
            issubclass(node_type, _STATEMENT_TYPES),
            not issubclass(node_type, _NO_DESCEND),
        )
        self.plan[node_type] = plan
        return plan

    def on_visit(self, node: cst.CSTNode) -> bool:
        if type(node) is cst.Module:
            # A comment right above a module's first statement is parsed into the module header.
            self.header_comments = {line.comment.value for line in node.header if line.comment is not None}
        visitors, _, is_statement, descend = self.plan.get(type(node)) or self._plan(type(node))
        if is_statement:
            self.ctx.statement_stack.append(node)
            if id(node) in self.skip:
                return False
        for visit in visitors:
            visit(node)
        return descend

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel]:
        _, leavers, is_statement, _ = self.plan[type(original_node)]
        result: Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel] = updated_node
        if is_statement and id(original_node) in self.skip:
            self.ctx.statement_stack.pop()
            return result
        for leave in leavers:
            result = leave(original_node, result)
            if not isinstance(result, cst.CSTNode):
                break
        if result is not updated_node:
            self.changes += 1
        if is_statement:
            self.ctx.statement_stack.pop()
            if self.ctx.options.todo_comments:
                result = self._with_todo_comments(original_node, result)
        return result

    # LibCST's per-attribute hooks look up ``visit_<Node>_<attr>`` methods for every child; the
    # fixers have none, so skip the lookups.
    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        return None

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        return None

    def _with_todo_comments(self, original: cst.CSTNode, result):
        texts = [f"{_TODO_PREFIX}{code} {message}" for _, code, message, statement, _ in self.ctx.reports if statement is original]
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
        existing |= self.header_comments
        added = [cst.EmptyLine(indent=True, comment=cst.Comment(text)) for text in dict.fromkeys(texts) if text not in existing]
        if not added:
            return result
        self.changes += 1
        return result.with_changes(leading_lines=[*result.leading_lines, *added])
