"""Where Celery settings are written, in every form real projects use, as one stream of
:class:`SettingSite` values for the setting fixers (broker, names, transport options, backend, beat).

Sites:
- ``Celery(main, broker=…, backend=…, <setting>=…)`` keywords;
- ``app.conf.update(<setting>=…)`` and ``app.conf.update({'<setting>': …})``;
- ``app.conf.<setting> = …`` and ``app.conf['<setting>'] = …``;
- assignments in configuration modules (``config_from_object('celeryconfig')``: lowercase or
  pre-4.0 uppercase names; Django settings read with ``namespace='CELERY'``: ``CELERY_<NAME>``);
- anywhere in a Celery file, names, keywords, keys and subscripts spelled ``CELERY_<NAME>``
  (Flask's ``app.config.update(CELERY_BROKER_URL=…)``, settings classes);
- mappings stored under a key the project's app reads with ``config_from_object(x["KEY"])`` (Flask's
  ``from_mapping(CELERY=dict(…))``, ``app.config["CELERY"] = {…}``, a config class's ``CELERY = {…}``),
  with Celery's own names inside.

A handler sees the site with the key in Celery's current spelling (``broker_url``) and may change the
key or the value; the site is then written back in its own style (keyword, key, name, subscript).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import libcst as cst

from ..index import APP, APP_CLASS
from ..setting_names import NEW_NAMES, OLD_TO_NEW
from ._base import Fixer, FileContext, register_at, keyword_name, quoted_like, string_value
from .imports import app_stays_on_celery

__all__ = [
    "SettingSite", "SettingEdit", "SettingsFixer", "registered_setting_handlers", "setting_handler", "setting_key",
]

NEW = "new"
OLD = "old"
PREFIXED = "prefixed"
ARGUMENT = "argument"

#: ``Celery(...)`` keywords that are settings under another name.
_CONSTRUCTOR_SETTINGS = {"broker": "broker_url", "backend": "result_backend"}


@dataclass
class SettingSite:
    #: Celery's current (lowercase) name of the setting.
    key: str
    #: The name as written.
    spelling: str
    style: str
    prefix: str
    value: cst.BaseExpression
    #: The original node, for findings.
    node: cst.CSTNode


@dataclass(frozen=True)
class SettingEdit:
    key: str | None = None
    value: cst.BaseExpression | None = None


Handler = Callable[[SettingSite, FileContext], "SettingEdit | None"]

_HANDLERS: dict[int, Handler] = {}


def setting_handler(*, order: int) -> Callable[[Handler], Handler]:
    """Register a setting rule's handler: the settings pass calls every handler on each site, in
    ascending ``order``, each seeing the key and value the previous ones left (a rename by one is
    what the next one matches)."""

    def register(handler: Handler) -> Handler:
        register_at(_HANDLERS, order, handler, f"{handler.__module__}.{handler.__qualname__}")
        return handler

    return register


def registered_setting_handlers() -> tuple[Handler, ...]:
    return tuple(_HANDLERS[order] for order in sorted(_HANDLERS))


def setting_key(name: str, prefix: str) -> tuple[str, str] | None:
    """(key, style) for a name written in a context using ``prefix`` ('' or 'CELERY_')."""
    if prefix:
        if name.startswith(prefix) and name[len(prefix):].lower() in NEW_NAMES:
            return name[len(prefix):].lower(), PREFIXED
        return None
    if name in NEW_NAMES:
        return name, NEW
    if name in OLD_TO_NEW:
        return OLD_TO_NEW[name], OLD
    return None


def _celery_prefixed(name: str) -> tuple[str, str] | None:
    return setting_key(name, "CELERY_") if name.startswith("CELERY_") else None


def _merge_reports(reports: list, start: int, spelling: str) -> None:
    """One finding for one setting: ``os.environ.get('X', ['amqp://a'])`` is both read from the
    environment and a list of URLs, and says so in one finding, not two on one line. The first
    finding's code stays; a later part under another code names it. Later messages lose the
    setting's name they would repeat."""
    first = reports[start]
    parts = [first[2]]
    for _, code, message, _, _ in reports[start + 1 :]:
        rest = message[len(spelling):].lstrip(" :") if message.startswith(spelling) else message
        parts.append(rest if code == first[1] else f"{rest} ({code})")
    reports[start:] = [(first[0], first[1], "; and ".join(parts), first[3], first[4])]


def _site(name: str, *, in_celery_conf: bool) -> tuple[str, str, str] | None:
    """(key, style, prefix) for a keyword or dict key: Celery's own names inside ``Celery(...)`` and
    ``app.conf.update``; elsewhere only ``CELERY_<NAME>`` spellings count."""
    if in_celery_conf:
        found = setting_key(name, "")
        return (found[0], found[1], "") if found else None
    found = _celery_prefixed(name)
    return (found[0], found[1], "CELERY_") if found else None


class SettingsFixer(Fixer, order=20):
    """Finds setting sites and runs the handlers of the setting rules over them (after the import
    rewrite, which tells whether this file's app stays on Celery, and before the task fixers)."""

    rules = ()

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.handlers = registered_setting_handlers()
        self.conf_dicts: set[int] = set()
        #: ids of ``dict(...)`` calls that hold Celery settings (Flask's ``CELERY=dict(...)``).
        self.conf_dict_calls: set[int] = set()
        self.mapping_keys = ctx.index.config_mapping_keys
        self.renamed_module_names: set[str] = set()
        self.skip_names: set[int] = set()
        self.uppercase = ctx.module in ctx.index.uppercase_config_modules
        # The one place the "a file runs on one side" rule is kept: when this file's app is still
        # built by Celery (an import stays on Celery), no setting changes, or Celery would get a
        # broker only the shim has (``cloudflare://``: "No such transport").
        self.app_stays_on_celery = app_stays_on_celery(ctx)
        self.reported_stays = False
        if ctx.config_prefix == "" and ctx.enabled("CFQ203") and not self.uppercase:
            self.renamed_module_names = {n for n in ctx.facts.assigned if n in OLD_TO_NEW}

    # -- the edit itself -------------------------------------------------------------------
    def _run(self, key: str, spelling: str, style: str, prefix: str, value: cst.BaseExpression, node: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
        """(new spelling, new value), or None when nothing changes."""
        if self.app_stays_on_celery:
            if not self.reported_stays:
                self.reported_stays = True
                self.ctx.report(node, "CFQ104", f"{spelling} and the rest of this file's configuration are left as they are: the app they configure is still built by Celery (see CFQ103)")
            return None
        site = SettingSite(key=key, spelling=spelling, style=style, prefix=prefix, value=value, node=node)
        key_changed = False
        reported_before = len(self.ctx.reports)
        for handler in self.handlers:
            edit = handler(site, self.ctx)
            if edit is None:
                continue
            if edit.key is not None and edit.key != site.key:
                site.key = edit.key
                key_changed = True
            if edit.value is not None:
                site.value = edit.value
        if len(self.ctx.reports) - reported_before > 1:
            _merge_reports(self.ctx.reports, reported_before, spelling)
        new_spelling = spelling
        if key_changed or (style == OLD and self.ctx.enabled("CFQ203") and not self.uppercase):
            if style == PREFIXED:
                new_spelling = prefix + site.key.upper()
            else:
                new_spelling = site.key.upper() if self.uppercase and style == OLD else site.key
        if new_spelling == spelling and site.value is value:
            return None
        return new_spelling, site.value

    # -- assignments: NAME = v, app.conf.NAME = v, app.conf['NAME'] = v, x.config['CELERY_NAME'] = v --
    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if len(updated_node.targets) != 1:
            return updated_node
        rewritten = self._rewritten_assignment(
            original_node.targets[0].target, updated_node.targets[0].target, updated_node.value, original_node
        )
        if rewritten is None:
            return updated_node
        target, value = rewritten
        return updated_node.with_changes(targets=[updated_node.targets[0].with_changes(target=target)], value=value)

    def leave_AnnAssign(self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign) -> cst.AnnAssign:
        """``CELERY_BROKER_URL: str = "redis://..."`` (settings classes, typed config modules)."""
        if updated_node.value is None:
            return updated_node
        rewritten = self._rewritten_assignment(original_node.target, updated_node.target, updated_node.value, original_node)
        if rewritten is None:
            return updated_node
        target, value = rewritten
        return updated_node.with_changes(target=target, value=value)

    def _rewritten_assignment(
        self, original_target: cst.BaseExpression, target: cst.BaseExpression, value: cst.BaseExpression,
        node: cst.CSTNode,
    ) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
        """(new target, new value) when ``target = value`` sets a setting a handler changes, else None."""
        found = self._assignment_site(original_target, target)
        if found is None:
            return None
        (key, style, prefix), spelling = found
        result = self._run(key, spelling, style, prefix, value, node)
        if result is None:
            return None
        new_spelling, new_value = result
        return (self._renamed_target(target, new_spelling) if new_spelling != spelling else target), new_value

    def _assignment_site(self, original: cst.BaseExpression, target: cst.BaseExpression):
        if isinstance(target, cst.Name):
            name = target.value
            if self.ctx.config_prefix is not None:
                prefix, found = self.ctx.config_prefix, setting_key(name, self.ctx.config_prefix)
            else:
                prefix, found = "CELERY_", _celery_prefixed(name)
            return ((found[0], found[1], prefix), name) if found else None
        if isinstance(target, cst.Attribute) and self._is_conf(target.value):
            found = setting_key(target.attr.value, "")
            return (found + ("",), target.attr.value) if found else None
        if isinstance(target, cst.Subscript) and len(target.slice) == 1:
            index = target.slice[0].slice
            name = string_value(index.value) if isinstance(index, cst.Index) else None
            if name is None:
                return None
            if self._is_conf(target.value):
                found = setting_key(name, "")
                return (found + ("",), name) if found else None
            found = _celery_prefixed(name)
            return (found + ("CELERY_",), name) if found else None
        return None

    def _renamed_target(self, target: cst.BaseExpression, spelling: str) -> cst.BaseExpression:
        if isinstance(target, cst.Name):
            return target.with_changes(value=spelling)
        if isinstance(target, cst.Attribute):
            return target.with_changes(attr=cst.Name(spelling))
        if isinstance(target, cst.Subscript):
            element = target.slice[0]
            index = element.slice
            assert isinstance(index, cst.Index)
            return target.with_changes(slice=[element.with_changes(slice=index.with_changes(value=quoted_like(index.value, spelling)))])
        return target

    def _is_conf(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Attribute) and node.attr.value == "conf" and self.ctx.kind(node.value) == APP

    # -- references to renamed module-level names in old-style config modules --------------
    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self.renamed_module_names:
            self.skip_names.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if self.renamed_module_names and node.keyword is not None:
            self.skip_names.add(id(node.keyword))

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if original_node.value in self.renamed_module_names and id(original_node) not in self.skip_names:
            return updated_node.with_changes(value=OLD_TO_NEW[original_node.value])
        return updated_node

    # -- mappings under a key config_from_object reads (Flask: app.config["CELERY"]) ------------
    def _mark_mapping(self, value: cst.BaseExpression) -> None:
        if isinstance(value, cst.Dict):
            self.conf_dicts.add(id(value))
        elif isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict":
            self.conf_dict_calls.add(id(value))

    def visit_Assign(self, node: cst.Assign) -> None:
        """``app.config["CELERY"] = dict(...)``, and ``CELERY = {...}`` in a Flask config class."""
        if not self.mapping_keys or len(node.targets) != 1:
            return
        target = node.targets[0].target
        key = None
        if isinstance(target, cst.Name):
            key = target.value
        elif isinstance(target, cst.Subscript) and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
            key = string_value(target.slice[0].slice.value)
        if key in self.mapping_keys:
            self._mark_mapping(node.value)

    def visit_DictElement(self, node: cst.DictElement) -> None:
        """``app.config.from_mapping({"CELERY": {...}})``."""
        if self.mapping_keys and string_value(node.key) in self.mapping_keys:
            self._mark_mapping(node.value)

    # -- calls: Celery(...), app.conf.update(...), x.update(CELERY_NAME=...) --------------------
    def visit_Call(self, node: cst.Call) -> None:
        if self.mapping_keys:  # ``app.config.from_mapping(CELERY=dict(...))``, ``.update(CELERY=...)``
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value in self.mapping_keys:
                    self._mark_mapping(arg.value)
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "update"
            and self._is_conf(func.value)
            and node.args
            and isinstance(node.args[0].value, cst.Dict)
            and node.args[0].keyword is None
        ):
            self.conf_dicts.add(id(node.args[0].value))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        constructor = self.ctx.kind(func) == APP_CLASS
        conf_update = (
            isinstance(func, cst.Attribute) and func.attr.value == "update" and self._is_conf(func.value)
        ) or id(original_node) in self.conf_dict_calls
        args = list(updated_node.args)
        changed = False
        for i, arg in enumerate(args):
            name = keyword_name(arg)
            if name is None:
                continue
            if constructor and name in _CONSTRUCTOR_SETTINGS:
                found = (_CONSTRUCTOR_SETTINGS[name], ARGUMENT, "")
            else:
                found = _site(name, in_celery_conf=constructor or conf_update)
            if found is None:
                continue
            result = self._run(found[0], name, found[1], found[2], arg.value, original_node.args[i])
            if result is None:
                continue
            spelling, value = result
            args[i] = arg.with_changes(keyword=cst.Name(spelling) if spelling != name else arg.keyword, value=value)
            changed = True
        return updated_node.with_changes(args=args) if changed else updated_node

    # -- dict literals: app.conf.update({...}) keys, and 'CELERY_NAME' keys anywhere ----------
    def leave_Dict(self, original_node: cst.Dict, updated_node: cst.Dict) -> cst.Dict:
        in_conf = id(original_node) in self.conf_dicts
        elements = list(updated_node.elements)
        changed = False
        for i, element in enumerate(elements):
            if not isinstance(element, cst.DictElement):
                continue
            name = string_value(element.key)
            if name is None:
                continue
            found = _site(name, in_celery_conf=in_conf)
            if found is None:
                continue
            result = self._run(found[0], name, found[1], found[2], element.value, original_node.elements[i])
            if result is None:
                continue
            spelling, value = result
            key = quoted_like(element.key, spelling) if spelling != name else element.key
            elements[i] = element.with_changes(key=key, value=value)
            changed = True
        return updated_node.with_changes(elements=elements) if changed else updated_node
