"""One module's Celery facts, read with the stdlib ``ast`` (about ten times faster than LibCST):
its bindings, the definitions that may make apps and tasks, configuration calls, and (for the
transform) which statements hold which names. Cross-module resolution is ``celery2cfq.index``'s job.

``ast`` of the running Python may not know newer syntax (PEP 695 on 3.11). Only then the file is
parsed with LibCST, the constructs ``ast`` cannot read are lowered to older equivalents that bind
the same names (``celery2cfq._lowering``), and ``ast`` reads the result.
"""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass, field
from typing import Iterable

from .names import CELERY_INSTRUMENTATION_MODULES, CELERY_PYTEST_PLUGIN, celery_equivalent

__all__ = [
    "ConfigSource", "Definition", "DefinitionForm", "ModuleFacts", "analyze_module", "is_celery_library", "parse_for_index", "parse_lowered", "parse_with_ast",
    "too_deep_for_python",
]

#: Packages whose import makes a module worth rewriting.
_CELERY_PACKAGES = frozenset({"celery", "cfq_shim", "kombu"})

_RESULT_METHODS = frozenset({"delay", "apply_async", "send_task", "AsyncResult"})

_BACKEND_NAMES = frozenset({"result_backend", "CELERY_RESULT_BACKEND", "RESULT_BACKEND"})

#: Attributes whose statements a fixer must see whatever names they use (``self.update_state`` in
#: a bound task names nothing tied to Celery).
_ALWAYS_READ_ATTRIBUTES = frozenset({"add_periodic_task", "update_state"})


def is_celery_library(qualified: str) -> bool:
    qualified = celery_equivalent(qualified)
    return qualified == "celery" or qualified.startswith("celery.")


class DefinitionForm(enum.Enum):
    """How a top-level name is defined from another name (the ref); the index decides from the
    ref's kind what the name becomes (see ``celery2cfq.index``)."""

    #: ``name = ref(...)``: an app from an app class or factory; a task or a decorator from a
    #: task decorator (``app.task(func)`` or ``app.task(bind=True)``).
    CALL = "call"
    #: ``name = ref(...)(func)``: a task from a task decorator with options.
    CALL_OF_CALL = "call of call"
    #: ``@ref`` or ``@ref(...)`` above ``def name``: a task.
    DECORATED = "decorated"
    #: ``class name(ref)``: an app or task class.
    SUBCLASS = "subclass"
    #: ``def name(): ...; return ref(...)``: an app factory.
    FACTORY = "factory"


@dataclass(frozen=True)
class Definition:
    """One top-level definition that may make an app, a task, a decorator or a class."""

    name: str
    form: DefinitionForm
    #: Qualified name of what the definition calls, decorates with or subclasses.
    ref: str
    #: For ``CALL``: the call has a positional argument (``app.task(func)`` makes a task,
    #: ``app.task(bind=True)`` a decorator).
    positional: bool = False


@dataclass(frozen=True)
class ConfigSource:
    """What one ``config_from_object`` call (or ``Celery(config_source=...)``, or
    ``config_from_envvar``) loads."""

    #: The module spelling or qualified object name (``"celeryconfig"``); "" for Django's settings
    #: and for an environment variable the index has not looked up yet.
    spelling: str
    #: The ``namespace=`` argument, "" without one.
    namespace: str = ""
    #: ``config_from_object('django.conf:settings', ...)``: Django's settings modules.
    django: bool = False
    #: ``config_from_envvar('CELERY_CONFIG_MODULE')``: the variable whose default (an
    #: ``os.environ.setdefault`` in the project) names the module.
    envvar: str = ""


@dataclass
class ModuleFacts:
    """What one module says about Celery, before cross-module resolution. Refs are dotted names
    already qualified through the module's own top-level bindings (None when not resolvable)."""

    module: str
    #: local top-level name -> qualified target (imports and ``x = y.z`` aliases).
    bindings: dict[str, str] = field(default_factory=dict)
    #: local names bound by ``import x`` / ``import x.y as z`` (the name is a module).
    module_bindings: set[str] = field(default_factory=set)
    defs: list[Definition] = field(default_factory=list)
    config_sources: list[ConfigSource] = field(default_factory=list)
    django_settings: list[str] = field(default_factory=list)
    #: ``os.environ.setdefault(NAME, 'value')`` calls: NAME -> value.
    environment_defaults: dict[str, str] = field(default_factory=dict)
    #: Keys of mappings passed to config_from_object or ``app.conf.update`` (``"CELERY"`` for
    #: ``app.config["CELERY"]``).
    config_mapping_keys: set[str] = field(default_factory=set)
    #: refs of calls that pass ``backend=``; only app classes count.
    backend_call_refs: list[str] = field(default_factory=list)
    sets_backend_setting: bool = False
    #: For module bindings: attribute names used on them; "" marks a bare use.
    module_attr_uses: dict[str, set[str]] = field(default_factory=dict)
    #: For module bindings: the whole dotted chains used on them (``exceptions.Ignore`` for
    #: ``celery.exceptions.Ignore``), so a chain through a submodule can be mapped as a whole.
    module_attr_chains: dict[str, set[str]] = field(default_factory=dict)
    #: Modules imported without ``as`` anywhere (``import celery.exceptions``).
    plain_imports: set[str] = field(default_factory=set)
    #: Qualified callee or class base -> local names it is written with (``celery`` in
    #: ``celery.Celery(...)`` or ``class App(celery.Celery)``), to tell which import an app's
    #: construction goes through.
    ref_heads: dict[str, set[str]] = field(default_factory=dict)
    mentions_celery: bool = False
    #: Names assigned or defined at module level.
    assigned: set[str] = field(default_factory=set)
    #: Names assigned anywhere from ``x.delay(...)``, ``x.apply_async(...)``, ``x.send_task(...)``,
    #: ``x.AsyncResult(...)`` or ``AsyncResult(...)``: possible task results (for result reads).
    result_names: set[str] = field(default_factory=set)
    #: Names assigned from ``x.inspect(...)`` (``app.control.inspect()``): their calls are checked.
    inspector_names: set[str] = field(default_factory=set)
    #: With ``track_statements``: name -> ids of the ``ast`` statements (any depth) using it, and
    #: ids of statements holding an import, a ``CELERY_`` name/key/keyword, ``add_periodic_task``,
    #: ``update_state`` or ``django_celery_beat``.
    name_owners: dict[str, set[int]] = field(default_factory=dict)
    always_interesting: set[int] = field(default_factory=set)


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _str_value(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _relative_base(module: str, is_package: bool, level: int) -> str:
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: max(0, len(parts) - (level - 1))]
    return ".".join(parts)


def analyze_module(tree: ast.Module, module: str, *, is_package: bool, track_statements: bool = False) -> ModuleFacts:
    """Summarise one parsed module (see :class:`ModuleFacts`)."""
    facts = ModuleFacts(module=module)
    local_defs: set[str] = set()

    # Pass 1: top-level bindings (flow-insensitive: the last binding of a name wins).
    for stmt in _top_level_statements(tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    facts.bindings[alias.asname] = alias.name
                    facts.module_bindings.add(alias.asname)
                else:
                    top = alias.name.split(".")[0]
                    facts.bindings[top] = top
                    facts.module_bindings.add(top)
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                rel = _relative_base(module, is_package, stmt.level)
                base = ".".join(p for p in (rel, base) if p)
            if base.split(".")[0] in _CELERY_PACKAGES or base in CELERY_INSTRUMENTATION_MODULES:
                facts.mentions_celery = True  # also ``from celery.x import *``
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                facts.bindings[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local_defs.add(stmt.name)
            facts.bindings.pop(stmt.name, None)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    local_defs.add(target.id)
                    facts.bindings.pop(target.id, None)

    def qualify(node: ast.AST) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in facts.bindings:
            target = facts.bindings[head]
        elif head in local_defs:
            target = f"{module}.{head}" if module else head
        else:
            return None
        return f"{target}.{rest}" if rest else target

    # Pass 2: definitions at top level.
    for stmt in _top_level_statements(tree.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in stmt.decorator_list:
                callee = deco.func if isinstance(deco, ast.Call) else deco
                ref = qualify(callee)
                if ref:
                    facts.defs.append(Definition(stmt.name, DefinitionForm.DECORATED, ref))
            for ref in _constructed_and_returned(stmt, qualify):
                facts.defs.append(Definition(stmt.name, DefinitionForm.FACTORY, ref))
        elif isinstance(stmt, ast.ClassDef):
            for base in stmt.bases:
                ref = qualify(base)
                if ref:
                    facts.defs.append(Definition(stmt.name, DefinitionForm.SUBCLASS, ref))
                    facts.ref_heads.setdefault(ref, set()).add(_dotted(base).partition(".")[0])  # type: ignore[union-attr]
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            value = stmt.value
            for name in names:
                if isinstance(value, ast.Call):
                    if isinstance(value.func, ast.Call):
                        ref = qualify(value.func.func)
                        if ref:
                            facts.defs.append(Definition(name, DefinitionForm.CALL_OF_CALL, ref))
                    else:
                        ref = qualify(value.func)
                        if ref:
                            facts.defs.append(Definition(name, DefinitionForm.CALL, ref, positional=bool(value.args)))
                else:
                    ref = qualify(value)
                    if ref:
                        facts.bindings[name] = ref

    # Pass 3: configuration calls and module attribute uses, anywhere in the file. With
    # ``track_statements``, also which statements (by id, at any depth) hold each name and which
    # hold something a fixer always looks at; the transform uses it to skip the rest.
    attr_owned: set[int] = set()
    # ``celery`` too: ``import celery`` may sit inside a function, and its uses must be known.
    module_names = facts.module_bindings | {"celery"}
    name_owners = facts.name_owners
    always = facts.always_interesting
    stack: list[tuple[ast.AST, tuple[int, ...]]] = [(tree, ())]
    while stack:
        node, owners = stack.pop()
        if track_statements and isinstance(node, ast.stmt):
            owners = (*owners, id(node))
        if isinstance(node, ast.Attribute):
            if id(node) not in attr_owned:
                chain = _dotted(node)
                head, _, rest = (chain or "").partition(".")
                if head in module_names:
                    facts.module_attr_chains.setdefault(head, set()).add(rest)
                    inner = node.value
                    while isinstance(inner, ast.Attribute):  # the same chain, seen again below
                        attr_owned.add(id(inner))
                        inner = inner.value
            if isinstance(node.value, ast.Name):
                if node.value.id in module_names:
                    facts.module_attr_uses.setdefault(node.value.id, set()).add(node.attr)
                    attr_owned.add(id(node.value))
                if node.attr in _BACKEND_NAMES and isinstance(node.ctx, ast.Store):
                    facts.sets_backend_setting = True
            if track_statements and node.attr in _ALWAYS_READ_ATTRIBUTES:
                always.update(owners)
        elif isinstance(node, ast.Name):
            if node.id in module_names and id(node) not in attr_owned:
                # Parents are handled before their children: an Attribute owner is seen first.
                facts.module_attr_uses.setdefault(node.id, set()).add("")
            elif node.id in _BACKEND_NAMES and isinstance(node.ctx, ast.Store):
                facts.sets_backend_setting = True
            if track_statements:
                if node.id.startswith("CELERY_"):
                    always.update(owners)
                else:
                    name_owners.setdefault(node.id, set()).update(owners)
            continue  # a Name has no children worth walking
        elif isinstance(node, ast.Call):
            _call_facts(node, facts, qualify)
            callee = _dotted(node.func)
            ref = qualify(node.func) if callee else None
            if ref:
                facts.ref_heads.setdefault(ref, set()).add(callee.partition(".")[0])
        elif isinstance(node, ast.Assign):
            value = node.value
            if isinstance(value, ast.Call) and (
                (isinstance(value.func, ast.Attribute) and value.func.attr in _RESULT_METHODS)
                or (isinstance(value.func, ast.Name) and value.func.id == "AsyncResult")
            ):
                facts.result_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "inspect":
                facts.inspector_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Dict):
            if any(_str_value(k) in _BACKEND_NAMES for k in node.keys):
                facts.sets_backend_setting = True
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if _str_value(node.slice) in _BACKEND_NAMES:
                facts.sets_backend_setting = True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.Import):
                facts.plain_imports.update(a.name for a in node.names if not a.asname)
            if not getattr(node, "level", 0) and any(
                m.split(".")[0] in _CELERY_PACKAGES or m in CELERY_INSTRUMENTATION_MODULES for m in modules
            ):
                facts.mentions_celery = True  # also an import inside a function
            always.update(owners)
            continue
        elif track_statements:
            if isinstance(node, ast.Constant):
                if isinstance(node.value, str) and ("django_celery_beat" in node.value or node.value.startswith("CELERY_")):
                    always.update(owners)
                elif node.value == CELERY_PYTEST_PLUGIN:  # ``pytest_plugins = ("celery.contrib.pytest",)``
                    facts.mentions_celery = True
                    always.update(owners)
                continue
            if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("CELERY_"):
                always.update(owners)
        stack.extend((child, owners) for child in ast.iter_child_nodes(node))
    facts.mentions_celery = facts.mentions_celery or any(is_celery_library(t) for t in facts.bindings.values())
    facts.assigned = local_defs
    return facts


def _top_level_statements(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Module statements, looking into ``if``/``try`` blocks (``if TYPE_CHECKING``, import guards)."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _top_level_statements(stmt.body)
            yield from _top_level_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _top_level_statements(stmt.body)
            for handler in stmt.handlers:
                yield from _top_level_statements(handler.body)
            yield from _top_level_statements(stmt.orelse)
        else:
            yield stmt


def _constructed_and_returned(func: ast.FunctionDef | ast.AsyncFunctionDef, qualify) -> list[str]:
    """Refs of calls whose result the function returns at the end of its body
    (``x = Celery(...); ...; return x`` or ``return Celery(...)``): app factories."""
    last = func.body[-1] if func.body else None
    if not isinstance(last, ast.Return) or last.value is None:
        return []
    if isinstance(last.value, ast.Call):
        ref = qualify(last.value.func)
        return [ref] if ref else []
    if not isinstance(last.value, ast.Name):
        return []
    returned = last.value.id
    refs: list[str] = []
    for statement in func.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
            if any(isinstance(t, ast.Name) and t.id == returned for t in statement.targets):
                ref = qualify(statement.value.func)
                if ref:
                    refs.append(ref)
    return refs


def _call_facts(node: ast.Call, facts: ModuleFacts, qualify) -> None:
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "config_from_object" and node.args:
        namespace = ""
        for kw in node.keywords:
            if kw.arg == "namespace":
                namespace = _str_value(kw.value) or ""
        arg = node.args[0]
        spelling = _str_value(arg)
        if spelling is not None:
            module_part = spelling.split(":")[0]
            if module_part in ("django.conf", "django.conf.settings"):
                facts.config_sources.append(ConfigSource("", namespace, django=True))
            elif ":" not in spelling:
                facts.config_sources.append(ConfigSource(module_part, namespace))
        elif _mapping_key(arg) is not None:
            # Flask's documented pattern: ``celery_app.config_from_object(app.config["CELERY"])``.
            facts.config_mapping_keys.add(_mapping_key(arg))  # type: ignore[arg-type]
        else:
            ref = qualify(arg)
            if ref:
                facts.config_sources.append(ConfigSource(ref, namespace))
    elif (
        isinstance(func, ast.Attribute) and func.attr == "update" and isinstance(func.value, ast.Attribute)
        and func.value.attr == "conf" and len(node.args) == 1 and _mapping_key(node.args[0]) is not None
    ):
        # ``celery_app.conf.update(app.config["CELERY"])``: the same mapping, loaded another way.
        facts.config_mapping_keys.add(_mapping_key(node.args[0]))  # type: ignore[arg-type]
    elif isinstance(func, ast.Attribute) and func.attr == "config_from_envvar" and node.args:
        variable = _str_value(node.args[0])
        if variable:
            namespace = next((_str_value(kw.value) or "" for kw in node.keywords if kw.arg == "namespace"), "")
            facts.config_sources.append(ConfigSource("", namespace, envvar=variable))
    elif isinstance(func, ast.Attribute) and func.attr == "setdefault" and len(node.args) >= 2:
        name, value = _str_value(node.args[0]), _str_value(node.args[1])
        if name and value:
            facts.environment_defaults[name] = value
            if name == "DJANGO_SETTINGS_MODULE":
                facts.django_settings.append(value)
    for kw in node.keywords:
        if kw.arg == "config_source":  # ``Celery('proj', config_source='celeryconfig')``
            spelling = _str_value(kw.value)
            if spelling is not None and ":" not in spelling:
                facts.config_sources.append(ConfigSource(spelling))
        elif kw.arg == "backend":
            ref = qualify(func)
            if ref:
                facts.backend_call_refs.append(ref)
        elif kw.arg in _BACKEND_NAMES:
            facts.sets_backend_setting = True


def _mapping_key(node: ast.AST) -> str | None:
    """``"CELERY"`` for ``x["CELERY"]`` and ``x.get("CELERY")``: a settings mapping read by key."""
    if isinstance(node, ast.Subscript):
        return _str_value(node.slice)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
        return _str_value(node.args[0])
    return None


def parse_for_index(source: str) -> ast.Module | None:
    """``ast.parse``, or LibCST plus lowering when the running Python lacks the syntax; None when
    neither can parse (the transform reports the file)."""
    tree, error = parse_with_ast(source)
    if tree is not None or too_deep_for_python(error):
        return tree
    return parse_lowered(source)


def parse_lowered(source: str) -> ast.Module | None:
    """For text the running Python's ``ast`` rejected: LibCST plus lowering, or None when LibCST
    cannot parse it either."""
    from ._lowering import lower_for_ast

    lowered = lower_for_ast(source)
    if lowered is None:
        return None
    return parse_with_ast(lowered)[0]


def parse_with_ast(source: str) -> tuple[ast.Module | None, Exception | None]:
    try:
        return ast.parse(source), None
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return None, error


def too_deep_for_python(error: Exception | None) -> bool:
    """Nesting that CPython itself refuses (over 200 parentheses, recursion limits). Such text is
    never valid Python, and LibCST's native parser can overflow its stack on it, so it is not
    handed to LibCST at all."""
    if isinstance(error, (RecursionError, MemoryError)):
        return True
    return isinstance(error, SyntaxError) and "too many nested" in (error.msg or "")
