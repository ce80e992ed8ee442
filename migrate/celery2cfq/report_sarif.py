"""``--report sarif``: SARIF 2.1.0, the format GitHub Code Scanning and most CI dashboards read.

One run, one tool (``celery2cfq``) whose driver lists every rule (the stable codes of
docs/rules.md, with their titles and descriptions). Each finding is a result at its file,
line and column; a file that would be rewritten (or was) is a result of the ``rewrite`` rule at line
1, so a ``--check`` in CI shows where work is left; a file that could not be processed is an
error-level tool execution notification, and makes ``executionSuccessful`` false.

Paths: a relative path (the usual case: the tool run from the repository's top) is a relative URI
against ``%SRCROOT%``; an absolute one is a ``file://`` URI.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from . import __version__
from .engine import RunResult

__all__ = ["SARIF_SCHEMA", "render_sarif", "to_sarif"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
REWRITE_RULE = "rewrite"


def _all_rules() -> dict[str, Any]:
    from .files.rules import FILE_RULES, MANUAL_CODES
    from .fixers import RULES

    rules = {}
    for code, rule in {**RULES, **FILE_RULES}.items():
        informational = code in FILE_RULES and code not in MANUAL_CODES
        rules[code] = {
            "id": code,
            "name": rule.name,
            "shortDescription": {"text": rule.title.replace("`", "")},
            "fullDescription": {"text": rule.description.replace("`", "")},
            "help": {"text": f"celery2cfq's docs/rules.md, section {code}: before/after examples and what to do."},
            "defaultConfiguration": {"level": "note" if informational else "warning"},
        }
    return rules


def _location(path: str, line: int = 1, column: int = 0) -> dict[str, Any]:
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        artifact = {"uri": "file://" + quote(str(posix))}
    else:
        artifact = {"uri": quote(str(posix)), "uriBaseId": "%SRCROOT%"}
    return {"physicalLocation": {"artifactLocation": artifact,
                                 "region": {"startLine": max(line, 1), "startColumn": column + 1}}}


def to_sarif(result: RunResult, *, mode: str) -> dict[str, Any]:
    rules = _all_rules()
    used: dict[str, int] = {}
    results: list[dict[str, Any]] = []

    def rule_index(code: str) -> int:
        if code not in used:
            used[code] = len(used)
        return used[code]

    for f in result.files:
        for finding in f.findings:
            level = rules.get(finding.code, {}).get("defaultConfiguration", {}).get("level", "warning")
            results.append({
                "ruleId": finding.code, "ruleIndex": rule_index(finding.code), "level": level,
                "message": {"text": f"{finding.code} {finding.message}"},
                "locations": [_location(f.path, finding.line, finding.column)],
            })
        if f.changed and f.error is None:
            results.append({
                "ruleId": REWRITE_RULE, "ruleIndex": rule_index(REWRITE_RULE), "level": "warning",
                "message": {"text": "rewritten by celery2cfq" if mode == "write"
                            else "celery2cfq would rewrite this file (run `celery2cfq rewrite` on it)"},
                "locations": [_location(f.path)],
            })
    notifications = [
        {"level": "error", "message": {"text": f"{f.path}: {f.error}"}, "locations": [_location(f.path)]}
        for f in result.files if f.error is not None
    ]
    rewrite_rule = {
        "id": REWRITE_RULE, "name": "file-to-rewrite",
        "shortDescription": {"text": "A file celery2cfq rewrites"},
        "fullDescription": {"text": "The file holds Celery code, commands or dependencies that celery2cfq migrates."},
        "defaultConfiguration": {"level": "warning"},
    }
    driver_rules = [rewrite_rule if code == REWRITE_RULE else rules.get(code, {"id": code}) for code in used]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "celery2cfq", "version": __version__, "semanticVersion": __version__,
                "rules": driver_rules,
            }},
            "invocations": [{"executionSuccessful": not notifications,
                             "toolExecutionNotifications": notifications}],
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The directory celery2cfq ran in."}}},
            "results": results,
        }],
    }


def render_sarif(result: RunResult, *, mode: str, verbosity: int = 0) -> str:
    return json.dumps(to_sarif(result, mode=mode), indent=2, ensure_ascii=False) + "\n"
