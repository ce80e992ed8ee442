"""Render a :class:`~celery2cfq.engine.RunResult` as text, JSON or Markdown (and, through their own
modules, SARIF 2.1.0 and GitHub Actions annotations).

The JSON form is a versioned schema (docs/report-schema.md). Additive changes keep
:data:`SCHEMA_VERSION`; removing or changing the meaning of a field bumps it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from . import __version__
from .engine import RunResult, Summary
from .model import FileResult

__all__ = ["SCHEMA_VERSION", "Mode", "FORMATS", "to_data", "render", "render_text", "render_json",
           "render_markdown", "summary_line"]

SCHEMA_VERSION = 1

#: "write" rewrites files; "diff" and "check" only say what would change.
Mode = Literal["write", "diff", "check"]

FORMATS = ("text", "json", "markdown", "sarif", "github")


def to_data(result: RunResult, *, mode: Mode) -> dict[str, Any]:
    """The report as plain JSON-ready data (schema version :data:`SCHEMA_VERSION`)."""
    return {
        "schema": "celery2cfq-report",
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "celery2cfq", "version": __version__},
        "mode": mode,
        "summary": _summary_data(result.summary),
        "files": [_file_data(f) for f in result.files],
    }


def render_json(result: RunResult, *, mode: Mode, verbosity: int = 0) -> str:
    return json.dumps(to_data(result, mode=mode), indent=2, ensure_ascii=False) + "\n"


def render_text(result: RunResult, *, mode: Mode, verbosity: int = 0) -> str:
    """One line per error, finding and (unless quiet) changed file, then a summary line.

    ``verbosity`` < 0 (``-q``) keeps only errors; > 0 (``-v``) also lists unchanged files.
    """
    lines: list[str] = []
    changed_word = _changed_word(mode)
    for f in result.files:
        if f.error is not None:
            lines.append(f"{f.path}: error: {f.error}")
        if verbosity < 0:
            continue
        for finding in f.findings:
            lines.append(f"{f.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}")
        if f.changed and f.error is None:
            lines.append(f"{f.path}: {changed_word}")
        elif verbosity > 0 and f.error is None:
            lines.append(f"{f.path}: unchanged")
    if verbosity >= 0:
        lines.append(summary_line(result.summary, mode=mode))
    return "".join(line + "\n" for line in lines)


def render_markdown(result: RunResult, *, mode: Mode, verbosity: int = 0) -> str:
    s = result.summary
    out = [
        "# celery2cfq report",
        "",
        f"{summary_line(s, mode=mode)}",
        "",
        "| files scanned | changed | failed | tasks found | call sites |",
        "|---:|---:|---:|---:|---:|",
        f"| {s.files_scanned} | {s.files_changed} | {s.files_failed} | {s.tasks_found} | {s.call_sites} |",
        "",
    ]
    if s.findings:
        out += ["## Findings by code", "", "| code | count |", "|---|---:|"]
        out += [f"| {code} | {n} |" for code, n in s.findings.items()]
        out.append("")
    failed = [f for f in result.files if f.error is not None]
    if failed:
        out += ["## Files that could not be processed", ""]
        out += [f"- `{f.path}`: {_md_escape(f.error or '')}" for f in failed]
        out.append("")
    noted = [f for f in result.files if f.findings or f.changed]
    for f in noted:
        out += [f"## `{f.path}`", ""]
        if f.changed:
            out += [_changed_word(mode).capitalize() + ".", ""]
        if f.findings:
            out += ["| line | code | message |", "|---:|---|---|"]
            out += [f"| {x.line} | {x.code} | {_md_escape(x.message)} |" for x in f.findings]
            out.append("")
        if f.diff:
            fence = "````" if "```" in f.diff else "```"
            out += ["<details><summary>diff</summary>", "", f"{fence}diff", f.diff.rstrip("\n"), fence,
                    "", "</details>", ""]
    return "\n".join(out).rstrip("\n") + "\n"


_RENDERERS: dict[str, Callable[..., str]] = {
    "text": render_text, "json": render_json, "markdown": render_markdown,
}


def render(result: RunResult, *, format: str, mode: Mode, verbosity: int = 0) -> str:
    if format == "sarif":
        from .report_sarif import render_sarif

        return render_sarif(result, mode=mode, verbosity=verbosity)
    if format == "github":
        from .report_github import render_github

        return render_github(result, mode=mode, verbosity=verbosity)
    return _RENDERERS[format](result, mode=mode, verbosity=verbosity)


def summary_line(summary: Summary, *, mode: Mode) -> str:
    changed = _changed_word(mode)
    findings = sum(summary.findings.values())
    by_code = ", ".join(f"{code}: {n}" for code, n in summary.findings.items())
    return (
        f"{_count(summary.files_scanned, 'file')} scanned, {summary.files_changed} {changed}, "
        f"{summary.files_failed} failed; {_count(summary.tasks_found, 'task')}, "
        f"{_count(summary.call_sites, 'call site')}; {_count(findings, 'finding')}"
        + (f" ({by_code})" if by_code else "")
    )


def _summary_data(summary: Summary) -> dict[str, Any]:
    return {
        "files_scanned": summary.files_scanned,
        "files_changed": summary.files_changed,
        "files_failed": summary.files_failed,
        "tasks_found": summary.tasks_found,
        "call_sites": summary.call_sites,
        "findings": dict(summary.findings),
    }


def _file_data(f: FileResult) -> dict[str, Any]:
    return {
        "path": f.path,
        "changed": f.changed,
        "error": f.error,
        "findings": [
            {"code": x.code, "line": x.line, "column": x.column, "message": x.message} for x in f.findings
        ],
        "tasks_found": f.tasks_found,
        "call_sites": f.call_sites,
        "diff": f.diff,
    }


def _changed_word(mode: Mode) -> str:
    return "rewritten" if mode == "write" else "would be rewritten"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
