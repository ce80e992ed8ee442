"""The fixers: one module per rule family, each opening with what it rewrites and why.

Nothing here lists them. Every public module of this package is imported once (as django-upgrade
discovers its fixers), and each registers what it holds where it defines it:

- a fixer class names its place in the single pass: ``class ImportsFixer(Fixer, order=10)``;
- a setting rule's handler, called by the settings pass for each setting found:
  ``@setting_handler(order=20)``;
- a module's ``RULES`` tuple declares its stable codes (title, description, examples).

``FIXERS`` and ``SETTING_HANDLERS`` are the registered classes and handlers in pass order. ``RULES``
maps every code to its :class:`~celery2cfq.fixers._base.Rule`: docs/rules.md is generated from it,
and ``ALL_CODES`` is what ``--only``/``--skip`` accept. A new rule family is a new module here.

Code scheme: CFQ1xx imports, CFQ2xx configuration, CFQ3xx task definitions, CFQ4xx call sites,
CFQ5xx findings that need a human.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Mapping

from ._base import Example, Fixer, Rule, registered_fixers
from ._settings import registered_setting_handlers

__all__ = ["ALL_CODES", "FIXERS", "RULES", "SETTING_HANDLERS", "Example", "Fixer", "Rule"]


def _rule_modules() -> tuple[ModuleType, ...]:
    """Import every public module of this package (private ones, ``_base`` and the like, are
    shared helpers imported by the others)."""
    return tuple(
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
        if not info.name.startswith("_")
    )


def _rules(modules: tuple[ModuleType, ...]) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for module in modules:
        for rule in getattr(module, "RULES", ()):
            if rule.code in rules:
                raise RuntimeError(f"{rule.code} is declared twice ({module.__name__})")
            rules[rule.code] = rule
    return dict(sorted(rules.items()))


_MODULES = _rule_modules()

FIXERS: tuple[type[Fixer], ...] = registered_fixers()

SETTING_HANDLERS = registered_setting_handlers()

RULES: Mapping[str, Rule] = _rules(_MODULES)

ALL_CODES: frozenset[str] = frozenset(RULES)
