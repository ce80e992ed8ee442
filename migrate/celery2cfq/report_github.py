"""``--report github``: GitHub Actions workflow commands, which the runner turns into annotations
on the pull request's lines.

- a finding: ``::warning file=PATH,line=N,col=C,title=CODE::CODE message`` (``::notice`` for the
  findings that only say what was done, see ``MANUAL_CODES``);
- a file that would be rewritten: ``::warning file=PATH,line=1,title=celery2cfq::…``;
- a file that failed: ``::error file=PATH,title=celery2cfq::…``;
- then the summary line, as plain text.

Values are escaped as the runner expects (``%``, CR and LF everywhere; ``:`` and ``,`` in properties).
"""

from __future__ import annotations

from .engine import RunResult

__all__ = ["render_github"]


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: RunResult, *, mode: str, verbosity: int = 0) -> str:
    from .files.rules import FILE_RULES, MANUAL_CODES
    from .report import summary_line

    lines = []
    for f in result.files:
        path = _property(f.path)
        if f.error is not None:
            lines.append(f"::error file={path},title=celery2cfq::{_data(f.error)}")
        for finding in f.findings:
            kind = "notice" if finding.code in FILE_RULES and finding.code not in MANUAL_CODES else "warning"
            lines.append(f"::{kind} file={path},line={finding.line},col={finding.column + 1},"
                         f"title={_property(finding.code)}::{_data(finding.code + ' ' + finding.message)}")
        if f.changed and f.error is None:
            what = "rewritten by celery2cfq" if mode == "write" else "celery2cfq would rewrite this file"
            lines.append(f"::warning file={path},line=1,title=celery2cfq::{what}")
    lines.append(summary_line(result.summary, mode=mode))  # type: ignore[arg-type]
    return "".join(line + "\n" for line in lines)
