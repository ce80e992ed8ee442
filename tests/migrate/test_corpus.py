"""Every corpus case: ``before/`` migrated by the real engine must equal ``after/`` byte for byte,
and a second run must change nothing.

A case may hold ``expected.json``::

    {"errors": ["broken.py"], "findings": {"proj/tasks.py": [["CFQ301", 13], ...]}}

``options.json`` sets run options (``{"todo_comments": true}``). ``errors`` lists the files the run must report as failed (and leave untouched); ``findings`` gives,
per file, the exact (code, line) pairs the run must report. Files not listed have no findings.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from celery2cfq.engine import run
from celery2cfq.model import Options

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "before").is_dir())


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _options(case: str) -> Options:
    """``options.json`` (for example ``{"todo_comments": true}``), else the defaults."""
    path = CORPUS / case / "options.json"
    return Options(**json.loads(path.read_text())) if path.exists() else Options()


def _expected(case: str) -> dict:
    path = CORPUS / case / "expected.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_the_corpus_has_the_required_cases():
    assert len(CASES) >= 9
    for case in CASES:
        assert (CORPUS / case / "after").is_dir(), case


@pytest.mark.parametrize("case", CASES)
def test_case(case: str, tmp_path: Path):
    before, after = CORPUS / case / "before", CORPUS / case / "after"
    work = tmp_path / case
    shutil.copytree(before, work)
    expected = _expected(case)

    options = _options(case)
    first = run([work], options=options, jobs=1, write=True)

    assert _files(work) == _files(after)
    errors = sorted(Path(r.path).relative_to(work).as_posix() for r in first.files if r.error)
    assert errors == sorted(expected.get("errors", []))
    findings = {
        Path(r.path).relative_to(work).as_posix(): sorted([f.code, f.line] for f in r.findings)
        for r in first.files
        if r.findings
    }
    assert findings == {path: sorted(pairs) for path, pairs in expected.get("findings", {}).items()}

    second = run([work], options=options, jobs=1, write=True)
    assert second.summary.files_changed == 0
    assert _files(work) == _files(after)


@pytest.mark.parametrize("case", CASES)
def test_unchanged_files_stay_byte_identical(case: str):
    before, after = _files(CORPUS / case / "before"), _files(CORPUS / case / "after")
    assert set(before) == set(after), "after/ must hold the same files as before/"
    changed = [name for name in before if before[name] != after[name]]
    errors = set(_expected(case).get("errors", []))
    assert not errors & set(changed), "a file that fails must stay as it was"
