"""The project index: which names are Celery apps, tasks and task decorators, across modules.

Qualified names alone cannot say that ``app.task`` or ``x.delay()`` belong to Celery: an ``app``
imported from ``proj.celery`` is only known through the project. So every candidate module is read
once with the stdlib ``ast`` (about ten times faster than LibCST) into :class:`ModuleFacts`, a
symbolic summary (bindings, definitions, configuration calls). The facts of all modules are then
resolved together, to a fixed point, into a small frozen :class:`ProjectIndex`.

``ast`` of the running Python may not know newer syntax (PEP 695 on 3.11). Only then the file is
parsed with LibCST, the constructs ``ast`` cannot read are lowered to older equivalents that bind
the same names, and ``ast`` reads the result.

Names under ``cfq_shim`` count as their Celery equivalents, so migrated code indexes the same.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from typing import Iterable, Mapping, MutableMapping

from .names import celery_equivalent

__all__ = ["ProjectIndex", "ModuleFacts", "build_index", "analyze_module", "module_name_for_path", "Resolver"]

#: Kinds of names the index knows.
APP = "app"
APP_CLASS = "app_class"
APP_FACTORY = "app_factory"
TASK = "task"
TASK_DECORATOR = "task_decorator"
TASK_CLASS = "task_class"

_LIBRARY_KINDS: Mapping[str, str] = {
    "celery.Celery": APP_CLASS,
    "celery.app.Celery": APP_CLASS,
    "celery.app.base.Celery": APP_CLASS,
    "celery.shared_task": TASK_DECORATOR,
    "celery.app.shared_task": TASK_DECORATOR,
    "celery.current_app": APP,
    "celery.app.current_app": APP,
    "celery.Task": TASK_CLASS,
    "celery.app.task.Task": TASK_CLASS,
}

_NEVER_PROJECT_MODULES = frozenset({"celery", "cfq_shim", "kombu", "django", "flask"}) | frozenset(
    getattr(sys, "stdlib_module_names", ())
)

#: Packages whose import makes a module worth rewriting.
_CELERY_PACKAGES = frozenset({"celery", "cfq_shim", "kombu"})

_RESULT_METHODS = frozenset({"delay", "apply_async", "send_task", "AsyncResult"})

_BACKEND_NAMES = frozenset({"result_backend", "CELERY_RESULT_BACKEND", "RESULT_BACKEND"})


def module_name_for_path(path: str) -> tuple[str, bool]:
    """``src/proj/tasks.py`` -> (``proj.tasks``, False); ``proj/__init__.py`` -> (``proj``, True)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if parts and parts[-1].endswith((".py", ".pyi")):
        parts[-1] = parts[-1].rsplit(".", 1)[0]
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    is_package = bool(parts) and parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def is_celery_library(qualified: str) -> bool:
    qualified = celery_equivalent(qualified)
    return qualified == "celery" or qualified.startswith("celery.")


@dataclass
class ModuleFacts:
    """What one module says about Celery, before cross-module resolution. Refs are dotted names
    already qualified through the module's own top-level bindings (None when not resolvable)."""

    module: str
    #: local top-level name -> qualified target (imports and ``x = y.z`` aliases).
    bindings: dict[str, str] = field(default_factory=dict)
    #: local names bound by ``import x`` / ``import x.y as z`` (the name is a module).
    module_bindings: set[str] = field(default_factory=set)
    #: (local name, rule, ref, flag): rule is "call" (flag: has a positional argument),
    #: "call2" (``ref(...)(func)``), "decorated", "class", "factory".
    defs: list[tuple[str, str, str, bool]] = field(default_factory=list)
    #: (module spelling, namespace or "") for config_from_object; "django:" spelling for Django.
    config_sources: list[tuple[str, str]] = field(default_factory=list)
    django_settings: list[str] = field(default_factory=list)
    #: refs of calls that pass ``backend=``; only app classes count.
    backend_call_refs: list[str] = field(default_factory=list)
    sets_backend_setting: bool = False
    #: For module bindings: attribute names used on them; "" marks a bare use.
    module_attr_uses: dict[str, set[str]] = field(default_factory=dict)
    mentions_celery: bool = False
    #: Names assigned or defined at module level.
    assigned: set[str] = field(default_factory=set)
    #: Names assigned anywhere from ``x.delay(...)``, ``x.apply_async(...)``, ``x.send_task(...)``
    #: or ``x.AsyncResult(...)``: possible task results (for result ``.get()``).
    result_names: set[str] = field(default_factory=set)
    #: With ``track_statements``: name -> ids of the ``ast`` statements (any depth) using it, and
    #: ids of statements holding an import, a ``CELERY_`` name/key/keyword, ``add_periodic_task``
    #: or ``django_celery_beat``.
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
            if base.split(".")[0] in _CELERY_PACKAGES:
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
                    facts.defs.append((stmt.name, "decorated", ref, isinstance(deco, ast.Call)))
            for ref in _constructed_and_returned(stmt, qualify):
                facts.defs.append((stmt.name, "factory", ref, False))
        elif isinstance(stmt, ast.ClassDef):
            for base in stmt.bases:
                ref = qualify(base)
                if ref:
                    facts.defs.append((stmt.name, "class", ref, False))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            value = stmt.value
            for name in names:
                if isinstance(value, ast.Call):
                    if isinstance(value.func, ast.Call):
                        ref = qualify(value.func.func)
                        if ref:
                            facts.defs.append((name, "call2", ref, True))
                    else:
                        ref = qualify(value.func)
                        if ref:
                            facts.defs.append((name, "call", ref, bool(value.args)))
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
            if isinstance(node.value, ast.Name):
                if node.value.id in module_names:
                    facts.module_attr_uses.setdefault(node.value.id, set()).add(node.attr)
                    attr_owned.add(id(node.value))
                if node.attr in _BACKEND_NAMES and isinstance(node.ctx, ast.Store):
                    facts.sets_backend_setting = True
            if track_statements and node.attr == "add_periodic_task":
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
        elif isinstance(node, ast.Assign):
            value = node.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in _RESULT_METHODS:
                facts.result_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Dict):
            if any(_str_value(k) in _BACKEND_NAMES for k in node.keys):
                facts.sets_backend_setting = True
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if _str_value(node.slice) in _BACKEND_NAMES:
                facts.sets_backend_setting = True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if not getattr(node, "level", 0) and any(m.split(".")[0] in _CELERY_PACKAGES for m in modules):
                facts.mentions_celery = True  # also an import inside a function
            always.update(owners)
            continue
        elif track_statements:
            if isinstance(node, ast.Constant):
                if isinstance(node.value, str) and ("django_celery_beat" in node.value or node.value.startswith("CELERY_")):
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
                facts.config_sources.append(("django:", namespace))
            elif ":" not in spelling:
                facts.config_sources.append((module_part, namespace))
        else:
            ref = qualify(arg)
            if ref:
                facts.config_sources.append((ref, namespace))
    elif isinstance(func, ast.Attribute) and func.attr == "setdefault" and len(node.args) >= 2:
        if _str_value(node.args[0]) == "DJANGO_SETTINGS_MODULE":
            value = _str_value(node.args[1])
            if value:
                facts.django_settings.append(value)
    for kw in node.keywords:
        if kw.arg == "backend":
            ref = qualify(func)
            if ref:
                facts.backend_call_refs.append(ref)
        elif kw.arg in _BACKEND_NAMES:
            facts.sets_backend_setting = True


def parse_for_index(source: str) -> ast.Module | None:
    """``ast.parse``, or LibCST plus lowering when the running Python lacks the syntax; None when
    neither can parse (the transform reports the file)."""
    tree, error = parse_with_ast(source)
    if tree is not None or too_deep_for_python(error):
        return tree
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


@dataclass(frozen=True)
class ProjectIndex:
    """Project-wide facts, frozen and picklable (plain dicts of strings)."""

    #: canonical qualified name -> kind (``app``, ``task``, ``task_decorator``, ...).
    kinds: Mapping[str, str] = field(default_factory=dict)
    #: qualified alias -> qualified target, only for aliases that lead to a known name or module.
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: import spelling of a project module -> canonical module name (``proj.tasks`` -> ``src_root.proj.tasks``).
    module_aliases: Mapping[str, str] = field(default_factory=dict)
    #: canonical module -> setting-name prefix its settings use ("" or "CELERY_").
    config_modules: Mapping[str, str] = field(default_factory=dict)
    has_result_backend: bool = False
    #: canonical modules that define or re-export a known name, and their parent packages.
    celery_modules: frozenset[str] = frozenset()
    #: names a package alias would hide (see :class:`Resolver`).
    shadowed: frozenset[str] = frozenset()
    #: config modules whose setting names must stay UPPERCASE (Django settings read without a namespace).
    uppercase_config_modules: frozenset[str] = frozenset()

    def resolver(self) -> "Resolver":
        """A resolver over this index; what it learns later stays in its own layer."""
        return Resolver(_Overlay(self.kinds), _Overlay(self.aliases), self.module_aliases, self.shadowed)

    def module_for_path(self, path: str) -> tuple[str, bool]:
        return module_name_for_path(path)


class _Overlay(dict):
    """A dict that reads through to a base mapping it never changes (a faster two-level ChainMap):
    what one file's transform learns stays out of the shared index."""

    def __init__(self, base: Mapping[str, str]) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, key: str) -> str:
        return self.base[key]

    def get(self, key: str, default=None):  # type: ignore[override]
        found = dict.get(self, key)
        return found if found is not None else self.base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base


class Resolver:
    """Follows module spellings and aliases to a canonical name and says what kind it is."""

    def __init__(
        self,
        kinds: MutableMapping[str, str],
        aliases: MutableMapping[str, str],
        module_aliases: Mapping[str, str],
        shadowed: Iterable[str] = (),
    ):
        self.kinds = kinds
        self.aliases = aliases
        self.module_aliases = module_aliases
        #: ``pkg.mod.name`` defined in module ``pkg.mod`` while the package also binds ``pkg.mod``
        #: to something else (``from .celery import app as celery``): for such names the
        #: submodule wins, as it does for Python's ``from pkg.mod import name``.
        self.shadowed = set(shadowed)
        self.defined_by_module: dict[str, set[str]] = {}

    def resolve(self, qualified: str) -> str:
        for _ in range(20):
            parts = qualified.split(".")
            for cut in range(len(parts), 0, -1):
                prefix = ".".join(parts[:cut])
                target = self.aliases.get(prefix)
                if target and target != prefix and not (cut < len(parts) and f"{prefix}.{parts[cut]}" in self.shadowed):
                    qualified = ".".join([target, *parts[cut:]])
                    break
                module = self.module_aliases.get(prefix)
                if module and module != prefix:
                    qualified = ".".join([module, *parts[cut:]])
                    break
            else:
                return celery_equivalent(qualified)
        return celery_equivalent(qualified)

    def kind(self, qualified: str | None) -> str | None:
        if not qualified:
            return None
        resolved = self.resolve(qualified)
        found = _LIBRARY_KINDS.get(resolved) or self.kinds.get(resolved)
        if found:
            return found
        parent, _, attr = resolved.rpartition(".")
        if parent and attr in ("task", "Task") and self.kind(parent) == APP:
            return TASK_DECORATOR if attr == "task" else TASK_CLASS
        return None

    def add_module(self, facts: ModuleFacts) -> None:
        prefix = f"{facts.module}." if facts.module else ""
        for name, target in facts.bindings.items():
            self.aliases[prefix + name] = target
        self.defined_by_module[facts.module] = {*facts.assigned, *facts.bindings}

    def note_shadowing(self) -> None:
        """Record the names of submodules that a package alias of the same name would hide."""
        for module, names in self.defined_by_module.items():
            if module in self.aliases:
                self.shadowed.update(f"{module}.{name}" for name in names)

    def settle(self, all_facts: Iterable[ModuleFacts]) -> None:
        """Apply every module's definitions until nothing new is learnt."""
        defs = [
            ((f"{facts.module}.{name}" if facts.module else name), rule, ref, flag)
            for facts in all_facts
            for name, rule, ref, flag in facts.defs
        ]
        for _ in range(10):
            learnt = False
            for qualified, rule, ref, flag in defs:
                if qualified in self.kinds:
                    continue
                kind = _kind_of_definition(self.kind(ref), rule, flag)
                if kind:
                    self.kinds[qualified] = kind
                    learnt = True
            if not learnt:
                return


def _kind_of_definition(ref_kind: str | None, rule: str, flag: bool) -> str | None:
    if ref_kind is None:
        return None
    if rule == "decorated":
        return TASK if ref_kind == TASK_DECORATOR else None
    if rule == "class":
        return ref_kind if ref_kind in (APP_CLASS, TASK_CLASS) else None
    if rule == "factory":
        return APP_FACTORY if ref_kind in (APP_CLASS, APP_FACTORY) else None
    if rule == "call2":
        return TASK if ref_kind == TASK_DECORATOR else None
    if rule == "call":
        if ref_kind in (APP_CLASS, APP_FACTORY):
            return APP
        if ref_kind == TASK_DECORATOR:
            return TASK if flag else TASK_DECORATOR
    return None


def _module_aliases(modules: Iterable[str]) -> dict[str, str]:
    """Every import spelling of each project module: its full name, plus unambiguous suffixes
    (``backend/proj/tasks.py`` is imported as ``proj.tasks`` when ``backend`` is the root)."""
    candidates: dict[str, set[str]] = {}
    for module in modules:
        parts = module.split(".")
        for start in range(len(parts)):
            spelling = ".".join(parts[start:])
            if parts[start] in _NEVER_PROJECT_MODULES and start > 0:
                continue
            candidates.setdefault(spelling, set()).add(module)
    full = set(modules)
    aliases: dict[str, str] = {}
    for spelling, targets in candidates.items():
        if spelling in full or len(targets) != 1:
            continue
        aliases[spelling] = next(iter(targets))
    return aliases


def build_index(sources: Mapping[str, str]) -> ProjectIndex:
    """Index every module of ``sources`` (relative path -> text). Unparsable files are skipped
    here; the transform reports them."""
    all_facts: list[ModuleFacts] = []
    path_modules: dict[str, str] = {}
    for path in sorted(sources):
        module, is_package = module_name_for_path(path)
        path_modules[path] = module
        tree = parse_for_index(sources[path])
        if tree is None:
            continue
        all_facts.append(analyze_module(tree, module, is_package=is_package))

    module_aliases = _module_aliases(path_modules.values())
    resolver = Resolver({}, {}, module_aliases)
    for facts in all_facts:
        resolver.add_module(facts)
    resolver.note_shadowing()
    resolver.settle(all_facts)

    config_modules, uppercase_config = _config_modules(all_facts, resolver, set(path_modules.values()))
    has_backend = any(
        facts.sets_backend_setting or any(resolver.kind(r) in (APP_CLASS, APP_FACTORY) for r in facts.backend_call_refs)
        for facts in all_facts
    )

    # Keep only what the transform needs: aliases leading to a known name or to a project module.
    modules_with_kinds = {name.rpartition(".")[0] for name in resolver.kinds}
    kept_aliases: dict[str, str] = {}
    kinds = dict(resolver.kinds)
    for alias, target in resolver.aliases.items():
        resolved = resolver.resolve(target)
        kind = resolver.kind(resolved)
        if kind:
            kinds.setdefault(alias, kind)
        elif resolved in modules_with_kinds or is_celery_library(resolved):
            kept_aliases[alias] = resolved
    # Modules that define or re-export a known name, and the packages above them
    # (``import proj.tasks`` binds ``proj``).
    defining = {name.rpartition(".")[0] for name in kinds}
    celery_modules = frozenset(
        ".".join(parts[:cut]) for parts in (m.split(".") for m in defining if m) for cut in range(1, len(parts) + 1)
    )
    return ProjectIndex(
        kinds=kinds,
        aliases=kept_aliases,
        # Only spellings of modules that matter; an import of any other module finds nothing anyway.
        module_aliases={k: v for k, v in module_aliases.items() if v in celery_modules or v in config_modules},
        config_modules=config_modules,
        has_result_backend=has_backend,
        celery_modules=celery_modules,
        shadowed=frozenset(resolver.shadowed),
        uppercase_config_modules=frozenset(uppercase_config),
    )


def _config_modules(all_facts: list[ModuleFacts], resolver: Resolver, modules: set[str]) -> tuple[dict[str, str], set[str]]:
    config: dict[str, str] = {}
    django_namespace: str | None = None
    settings_spellings: list[str] = []
    for facts in all_facts:
        settings_spellings.extend(facts.django_settings)
        for spelling, namespace in facts.config_sources:
            prefix = f"{namespace}_" if namespace else ""
            if spelling == "django:":
                django_namespace = prefix
                continue
            module = resolver.resolve(spelling)
            if module in modules:
                config[module] = prefix
    uppercase: set[str] = set()
    if django_namespace is not None:
        settings_modules = {_settings_scope(resolver.resolve(s)) for s in settings_spellings}
        for module in modules:
            if any(module == s or module.startswith(s + ".") for s in settings_modules) or (
                not settings_modules and "settings" in module.split(".")
            ):
                config[module] = django_namespace
                if not django_namespace:
                    # Django only exposes UPPERCASE settings: old names cannot become lowercase.
                    uppercase.add(module)
    return config, uppercase


def _settings_scope(module: str) -> str:
    """``proj.settings.prod`` -> ``proj.settings``: split settings (base.py, prod.py, ...) share
    their package, and the namespaced names usually live in the base module."""
    parent = module.rpartition(".")[0]
    return parent if parent.rpartition(".")[2] == "settings" else module
