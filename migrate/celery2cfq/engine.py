"""The run: discover -> read -> pre-filter -> decode -> index -> transform (pool) -> verify -> diff ->
write -> results.

The engine knows nothing about Celery. The Celery-aware part is reached through :class:`Codemod`:
the pre-filter, the project index and the per-file transform (see :mod:`celery2cfq.model`), and,
for files that are not Python (deployment, environment and dependency files), a classifier, a
pre-filter and a transform of their own (:mod:`celery2cfq.files`). Those files go through the same
read, verify, diff and write steps; they are not indexed.

- Files the pre-filter rules out are neither decoded nor parsed; they are reported as unchanged.
- The index is built once, in this process, over every candidate file. Pool workers receive it once,
  through the pool initializer, and then only file texts.
- Every changed file is verified before anything is written: ``transform_source`` runs again over the
  output, which must parse and must not change again. A file that fails this is reported as an
  internal error and left alone.
- One file's failure (bad input, a fixer's bug, a failed write) never stops the run; it becomes that
  file's :attr:`FileResult.error`.
"""

from __future__ import annotations

import difflib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .discover import SourceFile, discover
from .model import FileResult, Options, SourceError, Transformed
from .source_io import DecodedSource, check_size, decode, encode
from .writer import WriteError, replace_file

__all__ = [
    "Codemod", "RunResult", "Summary", "celery_codemod", "default_jobs", "run", "run_bytes",
    "EXIT_OK", "EXIT_WOULD_CHANGE", "EXIT_FAILED",
]

#: Exit codes (see docs/cli.md).
EXIT_OK = 0
EXIT_WOULD_CHANGE = 1
EXIT_FAILED = 2

INTERNAL_ERROR = "internal error in celery2cfq (please report)"

TransformFn = Callable[..., Transformed]


@dataclass(frozen=True)
class Codemod:
    """The Celery-aware functions the engine drives. Module-level functions, so they pickle."""

    might_need_work: Callable[[bytes], bool]
    build_index: Callable[[Mapping[str, str]], Any]
    transform_source: TransformFn
    #: Files that are not Python: the format of a path (None: not read), the byte pre-filter for
    #: a format, and the transform. Unset: only Python files are read.
    classify: Callable[[str], str | None] | None = None
    might_need_work_other: Callable[[bytes, str], bool] | None = None
    transform_other: TransformFn | None = None
    #: The index ``transform_other`` receives, over every non-Python candidate (key -> text).
    build_other_index: Callable[[Mapping[str, str]], Any] | None = None


def celery_codemod() -> Codemod:
    """The real Celery fixers (imported on first use, so ``--help`` stays fast)."""
    from . import files, index, prefilter, transform

    return Codemod(prefilter.might_need_work, index.build_index, transform.transform_source,
                   classify=files.kind_of, might_need_work_other=files.might_need_work,
                   transform_other=files.transform_file, build_other_index=files.build_index)


@dataclass(frozen=True)
class Summary:
    files_scanned: int = 0
    files_changed: int = 0
    files_failed: int = 0
    tasks_found: int = 0
    call_sites: int = 0
    #: Count per finding code, sorted by code.
    findings: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, files: Sequence[FileResult]) -> Summary:
        counts: dict[str, int] = {}
        for result in files:
            for finding in result.findings:
                counts[finding.code] = counts.get(finding.code, 0) + 1
        return cls(
            files_scanned=len(files),
            files_changed=sum(1 for r in files if r.changed),
            files_failed=sum(1 for r in files if r.error is not None),
            tasks_found=sum(r.tasks_found for r in files),
            call_sites=sum(r.call_sites for r in files),
            findings=dict(sorted(counts.items())),
        )


@dataclass(frozen=True)
class RunResult:
    #: One result per file scanned, sorted by path.
    files: tuple[FileResult, ...]
    summary: Summary
    #: Whether changed files were written (False for --diff/--check).
    written: bool = False

    def exit_code(self, check_or_diff: bool) -> int:
        """2 if any file failed; else 1 if ``check_or_diff`` and something would change; else 0."""
        if self.summary.files_failed:
            return EXIT_FAILED
        if check_or_diff and self.summary.files_changed:
            return EXIT_WOULD_CHANGE
        return EXIT_OK


def default_jobs() -> int:
    counter = getattr(os, "process_cpu_count", None) or os.cpu_count
    return max(1, counter() or 1)


def run(
    paths: Sequence[Path],
    *,
    options: Options,
    jobs: int = 1,
    excludes: Sequence[str] = (),
    write: bool = False,
    progress: Callable[[int, int], None] | None = None,
    codemod: Codemod | None = None,
    only_python: bool = False,
) -> RunResult:
    """Migrate every Python file under ``paths``, and the deployment, environment and dependency
    files unless ``only_python``; write the changes only if ``write``.

    ``progress(done, total)`` is called in this process as files finish. Raises
    ``FileNotFoundError`` for a path that does not exist; every other problem is a file's error.
    """
    codemod = codemod or celery_codemod()
    classify = None if only_python or codemod.transform_other is None else codemod.classify
    discovery = discover(paths, excludes=excludes, classify=classify)
    files = discovery.files
    results = [FileResult(path=display, error=reason) for display, reason in discovery.unreadable]
    total = len(files) + len(results)
    candidates: list[tuple[SourceFile, bytes, DecodedSource]] = []
    for source in files:
        outcome = _read_candidate(source, codemod)
        if isinstance(outcome, FileResult):
            results.append(outcome)
        else:
            candidates.append((source, *outcome))
    if progress:
        progress(len(results), total)

    try:
        index = codemod.build_index(
            {source.key: decoded.text for source, _, decoded in candidates if source.kind == "python"})
        other_index = None if codemod.build_other_index is None else codemod.build_other_index(
            {source.key: decoded.text for source, _, decoded in candidates if source.kind != "python"})
    except Exception as exc:  # a bug in the index: every candidate fails, nothing is written
        results.extend(FileResult(path=s.display, error=_internal_error(exc)) for s, _, _ in candidates)
        candidates = []
        index = other_index = None
    # Largest files first, so that no worker is left with a big file at the end while others idle.
    work = [(s.display, s.key, decoded, s.kind != "python")
            for s, _, decoded in sorted(candidates, key=lambda c: -len(c[1]))]
    originals = {s.display: (s.path, data) for s, data, _ in candidates}
    for result in _transform_all(work, indexes=(index, other_index), options=options, jobs=jobs, codemod=codemod):
        if write and result.changed and result.error is None:
            path, old_bytes = originals[result.path]
            result = _write(result, path, old_bytes)
        results.append(result)
        if progress:
            progress(len(results), total)

    ordered = tuple(sorted(results, key=lambda r: r.path))
    return RunResult(files=ordered, summary=Summary.of(ordered), written=write)


def run_bytes(
    data: bytes, *, display: str, options: Options, codemod: Codemod | None = None
) -> FileResult:
    """Migrate one file's bytes that are not on disk (``-`` on the command line): the index sees only
    this file. The result's ``new_bytes`` holds the output when it changed."""
    codemod = codemod or celery_codemod()
    key = "stdin.py"
    try:
        decoded = decode(data)
        if not codemod.might_need_work(data):
            return FileResult(path=display)
        index = codemod.build_index({key: decoded.text})
    except SourceError as exc:
        return FileResult(path=display, error=str(exc))
    except Exception as exc:  # a bug in the pre-filter or index must not become a traceback
        return FileResult(path=display, error=_internal_error(exc))
    return _transform_one(display, key, decoded, index, options, codemod.transform_source)


def _read_candidate(source: SourceFile, codemod: Codemod) -> FileResult | tuple[bytes, DecodedSource]:
    """The file's bytes and text when the fixers must see it, else its final (unchanged/error) result."""
    try:
        check_size(source.path.stat().st_size)
        data = source.path.read_bytes()
    except SourceError as exc:
        return FileResult(path=source.display, error=str(exc))
    except OSError as exc:
        return FileResult(path=source.display, error=f"could not read: {exc.strerror or exc}")
    try:
        if source.kind != "python":
            assert codemod.might_need_work_other is not None
            if not codemod.might_need_work_other(data, source.kind):
                return FileResult(path=source.display)
        elif not codemod.might_need_work(data):
            return FileResult(path=source.display)
        return data, decode(data)
    except SourceError as exc:
        return FileResult(path=source.display, error=str(exc))
    except Exception as exc:  # a bug in the pre-filter
        return FileResult(path=source.display, error=_internal_error(exc))


def _write(result: FileResult, path: Path, old_bytes: bytes) -> FileResult:
    assert result.new_bytes is not None
    try:
        replace_file(path, result.new_bytes, expected_old_bytes=old_bytes)
    except WriteError as exc:
        return replace(result, error=str(exc))
    return result


# ---------------------------------------------------------------------------------------------
# Transforming: in this process (jobs=1, or a single file) or in a process pool.

#: (display, key, decoded text, not Python)
_WorkItem = tuple[str, str, DecodedSource, bool]

#: The multiprocessing start method for the pool; None is the platform's default (fork on Linux up
#: to Python 3.13, forkserver from 3.14, spawn on macOS and Windows). Tests set "spawn" to prove that
#: everything sent to workers pickles.
_POOL_START_METHOD: str | None = None

#: Set once per pool worker by :func:`_init_worker`: ((index, other index), options, transform_source,
#: transform_other).
_worker_state: tuple[tuple[Any, Any], Options, TransformFn, TransformFn | None] | None = None


def _transform_all(
    work: list[_WorkItem], *, indexes: tuple[Any, Any], options: Options, jobs: int, codemod: Codemod
) -> Iterator[FileResult]:
    """``indexes``: the Python index and the other files' index, given to each transform as ``index``."""
    if jobs <= 1 or len(work) <= 1:
        for display, key, decoded, other in work:
            transform = codemod.transform_other if other else codemod.transform_source
            assert transform is not None
            yield _transform_one(display, key, decoded, indexes[other], options, transform)
        return
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(work)),
        mp_context=multiprocessing.get_context(_POOL_START_METHOD),
        initializer=_init_worker,
        initargs=(indexes, options, codemod.transform_source, codemod.transform_other),
    ) as pool:
        futures = {pool.submit(_transform_in_worker, item): item for item in work}
        for future in as_completed(futures):
            display = futures[future][0]
            try:
                yield future.result()
            except Exception as exc:  # the worker died or its result did not pickle
                yield FileResult(path=display, error=_internal_error(exc))


def _init_worker(indexes: tuple[Any, Any], options: Options, transform_source: TransformFn,
                 transform_other: TransformFn | None = None) -> None:
    global _worker_state
    _worker_state = (indexes, options, transform_source, transform_other)


def _transform_in_worker(item: _WorkItem) -> FileResult:
    assert _worker_state is not None, "the pool initializer did not run"
    indexes, options, transform_source, transform_other = _worker_state
    display, key, decoded, other = item
    transform = transform_other if other else transform_source
    assert transform is not None
    return _transform_one(display, key, decoded, indexes[other], options, transform)


def _transform_one(
    display: str, key: str, decoded: DecodedSource, index: Any, options: Options,
    transform_source: TransformFn,
) -> FileResult:
    """Transform, verify, encode and diff one file. Never raises."""
    try:
        first = transform_source(decoded.text, path=key, index=index, options=options)
    except SourceError as exc:
        return FileResult(path=display, error=str(exc))
    except Exception as exc:
        return FileResult(path=display, error=_internal_error(exc))
    result = FileResult(
        path=display, findings=tuple(sorted(first.findings)), tasks_found=first.tasks_found,
        call_sites=first.call_sites,
    )
    if first.source == decoded.text:
        return result
    problem = _verify(first.source, key=key, index=index, options=options, transform_source=transform_source)
    if problem is not None:
        return replace(result, error=problem)
    try:
        new_bytes = encode(first.source, decoded)
    except SourceError as exc:
        return replace(result, error=str(exc))
    return replace(result, changed=True, diff=unified_diff(decoded.text, first.source, display),
                   new_bytes=new_bytes)


def _verify(output: str, *, key: str, index: Any, options: Options, transform_source: TransformFn) -> str | None:
    """Why ``output`` must not be written (it does not parse, or is not stable), or None."""
    try:
        again = transform_source(output, path=key, index=index, options=options)
    except SourceError as exc:
        what = "code is not valid Python" if key.endswith(".py") else "file cannot be read again"
        return f"{INTERNAL_ERROR}: the rewritten {what} ({exc}); the file was not changed"
    except Exception as exc:
        return _internal_error(exc) + "; the file was not changed"
    if again.source != output:
        line = _first_difference_line(output, again.source)
        return (f"{INTERNAL_ERROR}: the rewrite is not stable (a second run changes line {line}); "
                "the file was not changed")
    return None


def _internal_error(exc: BaseException) -> str:
    missing = _missing_dependency(exc)
    if missing is not None:
        # Not a bug to report: an installation that lost one of celery2cfq's own dependencies (an old
        # virtualenv, a hand-picked install). Say which and how to get it back.
        return (f"celery2cfq's dependency {missing!r} is not installed (No module named {exc.name!r}); "
                "reinstall celery2cfq (pip install --upgrade celery2cfq, or pip install -e . in a checkout)")
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{INTERNAL_ERROR}: {type(exc).__name__}" + (f": {text}" if text else "")


#: Top-level modules of celery2cfq's declared dependencies (pyproject.toml) -> the distribution to name.
_DEPENDENCY_MODULES = {"libcst": "libcst", "click": "click", "tomlkit": "tomlkit", "ruamel": "ruamel.yaml",
                       "packaging": "packaging", "tomli": "tomli"}


def _missing_dependency(exc: BaseException) -> str | None:
    """The distribution named by a ModuleNotFoundError of one of our declared dependencies, or None."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    return _DEPENDENCY_MODULES.get(exc.name.partition(".")[0])


def _first_difference_line(a: str, b: str) -> int:
    for number, (left, right) in enumerate(zip(a.splitlines(), b.splitlines()), start=1):
        if left != right:
            return number
    return min(len(a.splitlines()), len(b.splitlines())) + 1


def unified_diff(old: str, new: str, display: str) -> str:
    """A ``git diff``-style unified diff with ``a/`` and ``b/`` prefixes."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"a/{display}", tofile=f"b/{display}",
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
