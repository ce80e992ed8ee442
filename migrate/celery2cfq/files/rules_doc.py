"""One example of a non-Python rule as docs/rules.md shows it: a diff (or the text that stays) in
the file's own syntax, and the findings the real transform reports for it."""

from __future__ import annotations

import difflib

from ..fixers._base import Example
from ..model import Options
from . import kind_of, transform_file

__all__ = ["file_example"]

_FENCES = {"yaml": "yaml", "dockerfile": "dockerfile", "shell": "sh", "script?": "sh", "systemd": "ini",
           "supervisor": "ini", "makefile": "make", "env": "sh", "requirements": "text", "pyproject": "toml",
           "setup.cfg": "ini", "ini": "ini", "pipfile": "toml", "lock": "toml", "procfile": "text"}


def file_example(example: Example) -> str:
    parts = [f"In `{example.path}`:\n\n"]
    if example.before == example.after:
        parts.append(f"Stays as it is:\n\n```{_FENCES.get(kind_of(example.path) or '', 'text')}\n{example.before}```\n")
    else:
        diff = difflib.unified_diff(example.before.splitlines(keepends=True), example.after.splitlines(keepends=True),
                                    "before", "after", n=3)
        parts.append("```diff\n" + "".join(line for line in diff if not line.startswith(("---", "+++"))) + "```\n")
    findings = transform_file(example.before, path=example.path, options=Options()).findings
    if findings:
        parts.append("\nReported:\n\n" + "".join(f"- line {f.line}: `{f.code}` {f.message}\n" for f in findings))
    return "".join(parts)
