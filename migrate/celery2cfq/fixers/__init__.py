"""The fixers: one module per rule family, each opening with what it rewrites and why.

``FIXERS`` lists the fixer classes in the order they run inside the single pass; ``SETTING_HANDLERS``
lists the handlers the settings pass calls for each setting it finds. ``RULES`` maps every stable
code to its :class:`~celery2cfq.fixers._base.Rule` (title, description, examples): docs/rules.md is
generated from it, and ``ALL_CODES`` is what ``--only``/``--skip`` accept.

Code scheme: CFQ1xx imports, CFQ2xx configuration, CFQ3xx task definitions, CFQ4xx call sites,
CFQ5xx findings that need a human.
"""

from __future__ import annotations

from typing import Mapping

from . import (
    beat, broker, call_options, canvas, dead_settings, dynamic_lookup, imports, old_setting_names, remote_control, result_backend,
    signals, task_options, transport_options,
)
from ._base import Example, Fixer, Rule

__all__ = ["ALL_CODES", "FIXERS", "RULES", "SETTING_HANDLERS", "Example", "Fixer", "Rule"]

_RULE_MODULES = (
    imports, broker, old_setting_names, transport_options, result_backend, dead_settings, task_options, call_options,
    dynamic_lookup, remote_control, canvas, signals, beat,
)

FIXERS: tuple[type[Fixer], ...] = (
    imports.ImportsFixer,
    task_options.TaskOptionsFixer,
    call_options.CallOptionsFixer,
    result_backend.ResultGetFixer,
    dynamic_lookup.DynamicLookupFixer,
    remote_control.RemoteControlFixer,
    canvas.CanvasFixer,
    signals.SignalsFixer,
    beat.BeatFixer,
)

SETTING_HANDLERS = (
    transport_options.handle_setting,
    broker.handle_setting,
    result_backend.handle_setting,
    dead_settings.handle_setting,
    beat.handle_setting,
)

RULES: Mapping[str, Rule] = dict(sorted((rule.code, rule) for module in _RULE_MODULES for rule in module.RULES))

ALL_CODES: frozenset[str] = frozenset(RULES)
