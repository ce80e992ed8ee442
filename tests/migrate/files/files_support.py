"""Shared by the tests of the non-Python formats: write files, run the real engine, read them back."""

from __future__ import annotations

from pathlib import Path

from celery2cfq.engine import RunResult, run
from celery2cfq.model import Options


def migrate(tmp_path: Path, files: dict[str, str], **kwargs) -> tuple[RunResult, dict[str, str]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = run([tmp_path], options=kwargs.pop("options", Options()), jobs=1, write=True, **kwargs)
    return result, {name: (tmp_path / name).read_text() for name in files}
