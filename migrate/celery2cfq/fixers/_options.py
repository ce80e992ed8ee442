"""Shared by the task-option and call-option fixers: sort keyword options into kept, removed
(with a finding) and kept-with-finding, and remove them keeping the call's formatting."""

from __future__ import annotations

from typing import Callable, Mapping

import libcst as cst

from ._base import FileContext, keyword_name, remove_args, string_value

__all__ = ["filter_options"]


def filter_options(
    ctx: FileContext,
    original: cst.Call,
    updated: cst.Call,
    *,
    honoured: frozenset[str],
    removed: frozenset[str],
    removed_code: str,
    kept_code: str,
    what: str,
    star_code: str | None = None,
    extra_check: Callable[[str, cst.BaseExpression], str | None] | None = None,
    not_honoured: Mapping[str, str] | None = None,
) -> cst.Call:
    """Remove ``removed`` keywords (finding ``removed_code``) and report kept keywords the shim
    does not honour (``kept_code``): with ``not_honoured`` (name -> why), only those names; without
    it, every keyword outside ``honoured``. ``extra_check`` may return a message for a kept option."""
    drop: set[int] = set()
    for i, (orig_arg, arg) in enumerate(zip(original.args, updated.args)):
        if arg.star == "**":
            if star_code:
                ctx.report(orig_arg, star_code, f"{what}: options passed with ** cannot be checked; make sure none is priority/exchange/routing_key")
            continue
        name = keyword_name(arg)
        if name is None:
            continue
        if name in removed:
            if ctx.enabled(removed_code):
                ctx.report(orig_arg, removed_code, f"{what}: removed {name}= (no meaning on Cloudflare Queues)")
                drop.add(i)
            continue
        if not_honoured is not None:
            if name in not_honoured:
                ctx.report(orig_arg, kept_code, f"{what}: kept {name}=; {not_honoured[name]}")
                continue
        elif name not in honoured:
            ctx.report(orig_arg, kept_code, f"{what}: kept {name}=, which cfq_shim does not honour")
            continue
        if extra_check is not None:
            message = extra_check(name, arg.value)
            if message:
                ctx.report(orig_arg, kept_code, f"{what}: {message}")
    if not drop:
        return updated
    args = remove_args(updated.args, drop)
    changes: dict = {"args": args}
    if not args:
        changes["whitespace_before_args"] = cst.SimpleWhitespace("")
    return updated.with_changes(**changes)


def serializer_check(name: str, value: cst.BaseExpression) -> str | None:
    """Messages go as JSON; another serializer changes what a task receives."""
    if name != "serializer":
        return None
    chosen = string_value(value)
    if chosen == "json":
        return None
    what = f"serializer={chosen!r}" if chosen is not None else "a serializer= the codemod cannot read"
    return f"kept {what}; cfq_shim sends JSON only, so arguments must be JSON-serialisable"
