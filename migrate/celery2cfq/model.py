"""Frozen, picklable values passed between the engine (discovery, pool, reports, writing) and the
Celery-aware part (index, fixers). A process pool returns them, so they hold only plain data.

The seam, in one paragraph:
- ``celery2cfq.prefilter.might_need_work(data: bytes) -> bool``: the cheap byte scan.
- ``celery2cfq.index.build_index(sources: Mapping[str, str]) -> ProjectIndex``: project-wide facts
  (which names are Celery apps and tasks, which modules define them); keys are paths relative to the
  project root, with ``/`` separators.
- ``celery2cfq.transform.transform_source(source, *, path, index, options) -> Transformed``: one file,
  one parse, every fixer in one pass. Raises :class:`SourceError` for input it cannot handle.
The engine decodes and encodes bytes, re-runs ``transform_source`` on the output to prove it is
valid and stable, writes atomically and renders reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Finding", "Options", "Transformed", "FileResult", "SourceError", "DEFAULT_BROKER"]

#: What a Redis/AMQP/SQS broker becomes unless ``--broker`` says otherwise.
DEFAULT_BROKER = "cloudflare://"


@dataclass(frozen=True, order=True)
class Finding:
    """Something a human must still decide, at a line. ``code`` is stable (see docs/rules.md)."""

    line: int
    code: str
    message: str
    column: int = 0


@dataclass(frozen=True)
class Options:
    """What a run asks of the fixers."""

    broker: str = DEFAULT_BROKER
    #: ``--result-backend``: what every result backend the project configures becomes (None: kept).
    result_backend: str | None = None
    todo_comments: bool = False
    #: Codes to run exclusively (empty: all) and codes to skip.
    only: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()

    def enabled(self, code: str) -> bool:
        if self.only and code not in self.only:
            return False
        return code not in self.skip


@dataclass(frozen=True)
class Transformed:
    """The result of running every fixer over one file's text."""

    source: str
    findings: tuple[Finding, ...] = ()
    tasks_found: int = 0
    call_sites: int = 0


@dataclass(frozen=True)
class FileResult:
    """One file's outcome, as the engine reports it."""

    path: str
    changed: bool = False
    error: str | None = None
    findings: tuple[Finding, ...] = ()
    tasks_found: int = 0
    call_sites: int = 0
    #: Unified diff of the change ("" when unchanged), for --diff and reports.
    diff: str = ""
    #: Encoded new content; None when unchanged or failed. Dropped before reporting.
    new_bytes: bytes | None = field(default=None, repr=False, compare=False)


class SourceError(Exception):
    """Input the codemod cannot handle (does not parse, bad encoding, binary, huge). The message
    names the cause in words a user understands, with a line number where there is one."""
