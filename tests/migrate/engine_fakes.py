"""A small fake codemod for engine and CLI tests, so the engine's guarantees hold whatever the
fixers do. It "migrates" ``from celery import`` to ``from cfq_shim import`` and reacts to marker
words: BOOM (a fixer bug), UNSTABLE (a second run changes the output again), BROKEN (output that
does not parse), INSPECT (a finding with code C2C900). Also a way to make a directory unlistable.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from celery2cfq.engine import Codemod
from celery2cfq.model import Finding, Options, SourceError, Transformed

FAKE_CODES = frozenset({"C2C900", "C2C901"})

CELERY = "from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
MIGRATED = CELERY.replace("from celery import", "from cfq_shim import")
PLAIN = "import os\n\nprint(os.getcwd())\n"

index_builds: list[dict[str, str]] = []


def fake_might_need_work(data: bytes) -> bool:
    return b"celery" in data or b"BOOM" in data


def fake_build_index(sources):
    index_builds.append(dict(sources))
    return frozenset(sources)


def fake_transform(source: str, *, path: str, index, options: Options) -> Transformed:
    assert path in index, "every transformed file was indexed"
    try:
        ast.parse(source)
    except SyntaxError as exc:
        raise SourceError(f"line {exc.lineno}: does not parse: {exc.msg}") from None
    if "BOOM" in source:
        raise KeyError("fixer bug")
    new = source.replace("from celery import", "from cfq_shim import")
    if "UNSTABLE" in source:
        new += "# again\n"
    if "BROKEN" in source and "cfq_shim" not in source:
        new += "def (\n"
    findings = tuple(
        Finding(line=n, code="C2C900", message="inspect() has no equivalent")
        for n, text in enumerate(source.splitlines(), 1)
        if "INSPECT" in text
    )
    return Transformed(new, findings, tasks_found=source.count("@shared_task"), call_sites=source.count(".delay("))


FAKE = Codemod(fake_might_need_work, fake_build_index, fake_transform)


def refuse_to_list(monkeypatch, refused: Path) -> None:
    """Make the directory ``refused`` unlistable, as one without read permission is (the tests
    may run as root, whom chmod does not stop)."""
    real_scandir = os.scandir

    def scandir(path=".", *args):
        if Path(path).resolve() == refused.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", scandir)
