"""The project index: which names are Celery apps, tasks and task decorators, across modules.

Qualified names alone cannot say that ``app.task`` or ``x.delay()`` belong to Celery: an ``app``
imported from ``proj.celery`` is only known through the project. So every candidate module is read
once with the stdlib ``ast`` into :class:`~celery2cfq._facts.ModuleFacts`, a symbolic summary
(bindings, definitions, configuration calls; see ``celery2cfq._facts``). The facts of all modules
are then resolved together, to a fixed point, into a small frozen :class:`ProjectIndex`.

Names under ``cfq_shim`` count as their Celery equivalents, so migrated code indexes the same.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, MutableMapping

from ._facts import Definition, DefinitionForm, ModuleFacts, analyze_module, is_celery_library, parse_for_index
from .module_imports import app_module_stays_on_celery, is_celery_module
from .names import celery_equivalent

__all__ = ["ProjectIndex", "Resolver", "build_index", "module_name_for_path"]

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
    #: Keys under which the project keeps a settings mapping it passes to ``config_from_object``
    #: (``"CELERY"`` for Flask's ``config_from_object(app.config["CELERY"])``): the mappings stored
    #: under such a key (``app.config.from_mapping(CELERY=dict(...))``) are Celery configuration.
    config_mapping_keys: frozenset[str] = frozenset()
    #: Apps built through a ``celery`` module import that must stay (the shim lacks a name the
    #: module uses there), and the configuration modules such apps load: their settings stay
    #: something Celery can use (CFQ104).
    celery_side_apps: frozenset[str] = frozenset()
    celery_side_config_modules: frozenset[str] = frozenset()

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
            ((f"{facts.module}.{definition.name}" if facts.module else definition.name), definition)
            for facts in all_facts
            for definition in facts.defs
        ]
        for _ in range(10):
            learnt = False
            for qualified, definition in defs:
                if qualified in self.kinds:
                    continue
                kind = _kind_of_definition(self.kind(definition.ref), definition)
                if kind:
                    self.kinds[qualified] = kind
                    learnt = True
            if not learnt:
                return


def _kind_of_definition(ref_kind: str | None, definition: Definition) -> str | None:
    if ref_kind is None:
        return None
    form = definition.form
    if form is DefinitionForm.DECORATED or form is DefinitionForm.CALL_OF_CALL:
        return TASK if ref_kind == TASK_DECORATOR else None
    if form is DefinitionForm.SUBCLASS:
        return ref_kind if ref_kind in (APP_CLASS, TASK_CLASS) else None
    if form is DefinitionForm.FACTORY:
        return APP_FACTORY if ref_kind in (APP_CLASS, APP_FACTORY) else None
    if form is DefinitionForm.CALL:
        if ref_kind in (APP_CLASS, APP_FACTORY):
            return APP
        if ref_kind == TASK_DECORATOR:
            return TASK if definition.positional else TASK_DECORATOR
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

    _look_up_environment_sources(all_facts)
    module_aliases = _module_aliases(path_modules.values())
    resolver = Resolver({}, {}, module_aliases)
    for facts in all_facts:
        resolver.add_module(facts)
    resolver.note_shadowing()
    resolver.settle(all_facts)

    config_modules, uppercase_config = _config_modules(all_facts, resolver, set(path_modules.values()))
    celery_side_apps, celery_side_config = _apps_left_on_celery(all_facts, resolver, config_modules)
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
        config_mapping_keys=frozenset(key for facts in all_facts for key in facts.config_mapping_keys),
        celery_side_apps=celery_side_apps,
        celery_side_config_modules=celery_side_config,
    )


def _apps_left_on_celery(
    all_facts: list[ModuleFacts], resolver: Resolver, config_modules: Mapping[str, str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(apps, configuration modules) that stay on Celery: see ``ProjectIndex.celery_side_apps``."""
    apps: set[str] = set()
    config: set[str] = set()
    loaded_by_name = {resolver.resolve(s.spelling) for facts in all_facts for s in facts.config_sources if not s.django}
    for facts in all_facts:
        if not any(is_celery_module(facts.bindings.get(name)) for name in facts.module_bindings):
            continue  # the usual case: no ``import celery…`` whose plan could keep an app on Celery
        app_refs = {ref for ref in facts.ref_heads if resolver.kind(ref) == APP_CLASS}
        if not app_refs or not app_module_stays_on_celery(facts, app_refs):
            continue
        prefix = f"{facts.module}." if facts.module else ""
        apps.update(prefix + d.name for d in facts.defs if resolver.kinds.get(prefix + d.name) == APP)
        for source in facts.config_sources:
            if source.django:  # every settings module Django reads for the app
                config.update(m for m in config_modules if m not in loaded_by_name)
            elif resolver.resolve(source.spelling) in config_modules:
                config.add(resolver.resolve(source.spelling))
    return frozenset(apps), frozenset(config)


#: The module Celery's default loader reads (``CELERY_CONFIG_MODULE``'s default), also what
#: ``celery --config celeryconfig`` names in deployment files: a configuration module even when
#: no Python code loads it by name.
DEFAULT_CONFIG_MODULE = "celeryconfig"


def _look_up_environment_sources(all_facts: list[ModuleFacts]) -> None:
    """``config_from_envvar('VAR')`` loads the module that ``os.environ.setdefault('VAR', 'mod')``
    names somewhere in the project: spell such sources with that module (or drop them)."""
    defaults = {name: value for facts in all_facts for name, value in facts.environment_defaults.items()}
    for facts in all_facts:
        if any(source.envvar for source in facts.config_sources):
            facts.config_sources = [
                replace(source, spelling=defaults[source.envvar], envvar="") if source.envvar else source
                for source in facts.config_sources
                if not source.envvar or source.envvar in defaults
            ]


def _config_modules(all_facts: list[ModuleFacts], resolver: Resolver, modules: set[str]) -> tuple[dict[str, str], set[str]]:
    config: dict[str, str] = {}
    django_namespace: str | None = None
    settings_spellings: list[str] = []
    for facts in all_facts:
        settings_spellings.extend(facts.django_settings)
        for source in facts.config_sources:
            prefix = f"{source.namespace}_" if source.namespace else ""
            if source.django:
                django_namespace = prefix
                continue
            module = resolver.resolve(source.spelling)
            if module in modules:
                config[module] = prefix
            else:
                # Loaded by a name several files could answer to (``celeryconfig`` in ``deploy/`` and in
                # ``docker/``), depending on the path the worker starts with: each of them is it.
                for candidate in modules:
                    if candidate.endswith("." + source.spelling):
                        config.setdefault(candidate, prefix)
    if DEFAULT_CONFIG_MODULE in modules:
        config.setdefault(DEFAULT_CONFIG_MODULE, "")
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
