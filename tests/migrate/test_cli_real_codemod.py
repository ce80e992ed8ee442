"""The installed ``celery2cfq`` command end to end, with the real fixers, in a subprocess.

These check the engine's guarantees on real rewrites (not what each fixer produces: the corpus and
the fixer tests do that).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

APP = '''\
from celery import Celery

app = Celery("proj", broker="redis://localhost:6379/0")


@app.task
def add(x, y):
    return x + y
'''

CALLER = '''\
from proj.celery import app
from proj.celery import add


def go():
    return add.delay(1, 2)
'''

NOT_CELERY = '''\
class Timer:
    def delay(self, seconds):
        return seconds


def go():
    return Timer().delay(3)  # not a Celery task: must stay
'''


def celery2cfq(*args: str, cwd: Path, input: bytes | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("celery2cfq", path=str(Path(sys.executable).parent)) or shutil.which("celery2cfq")
    command = [exe] if exe else [sys.executable, "-m", "celery2cfq"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    return subprocess.run([*command, *args], cwd=cwd, input=input, capture_output=True, timeout=120, env=env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    pytest.importorskip("celery2cfq.transform", reason="the fixers' transform module is not there yet")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "celery.py").write_text(APP)
    (tmp_path / "proj" / "views.py").write_text(CALLER)
    (tmp_path / "proj" / "timer.py").write_text(NOT_CELERY)
    (tmp_path / "proj" / "crlf.py").write_bytes(APP.replace("\n", "\r\n").replace("proj", "crlf").encode())
    latin1 = "# -*- coding: latin-1 -*-\n" + APP.replace("proj", "latin") + "GREETING = 'café'\n"
    (tmp_path / "proj" / "latin1.py").write_bytes(latin1.encode("latin-1"))
    (tmp_path / "proj" / "script.py").write_text(APP.replace("proj", "script"))
    (tmp_path / "proj" / "script.py").chmod(0o755)
    return tmp_path


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.py"))}


def test_check_diff_write_then_stable(project: Path):
    before = tree_bytes(project)
    check = celery2cfq("rewrite", "--check", ".", cwd=project)
    assert check.returncode == 1, check.stderr
    diff = celery2cfq("rewrite", "--diff", "--jobs", "2", ".", cwd=project)
    assert diff.returncode == 1
    assert b"+++ b/proj/celery.py" in diff.stdout and b"cfq_shim" in diff.stdout
    assert tree_bytes(project) == before, "--check and --diff write nothing"

    write = celery2cfq("rewrite", ".", "--report", "json", cwd=project)
    assert write.returncode == 0, write.stderr
    report = json.loads(write.stdout)
    assert report["summary"]["files_failed"] == 0 and report["summary"]["files_changed"] >= 2
    after = tree_bytes(project)
    assert b"cfq_shim" in after["proj/celery.py"]
    assert after["proj/timer.py"] == before["proj/timer.py"]
    assert after["proj/__init__.py"] == before["proj/__init__.py"]
    assert after["proj/crlf.py"].count(b"\r\n") == after["proj/crlf.py"].count(b"\n"), "CRLF kept"
    assert after["proj/crlf.py"] != before["proj/crlf.py"]
    assert after["proj/latin1.py"] != before["proj/latin1.py"]
    assert b"'caf\xe9'" in after["proj/latin1.py"], "still latin-1"
    assert after["proj/latin1.py"].decode("latin-1").startswith("# -*- coding: latin-1 -*-\n")
    assert after["proj/script.py"] != before["proj/script.py"]
    assert (project / "proj" / "script.py").stat().st_mode & 0o777 == 0o755

    again = celery2cfq("rewrite", "--check", ".", cwd=project)
    assert again.returncode == 0, again.stdout
    assert tree_bytes(project) == after


def test_syntax_error_is_reported_and_other_files_written(project: Path):
    (project / "proj" / "broken.py").write_text("from celery import shared_task\ndef f(:\n")
    result = celery2cfq("rewrite", ".", cwd=project)
    assert result.returncode == 2
    assert b"proj/broken.py: error:" in result.stdout
    assert b"Traceback" not in result.stderr + result.stdout
    assert b"cfq_shim" in (project / "proj" / "celery.py").read_bytes()


def test_stdin_to_stdout(project: Path):
    result = celery2cfq("rewrite", "-", cwd=project, input=APP.encode())
    assert result.returncode == 0, result.stderr
    assert b"cfq_shim" in result.stdout and b"from celery import" not in result.stdout


def test_unknown_only_code_lists_the_real_codes(project: Path):
    from celery2cfq.fixers import ALL_CODES

    result = celery2cfq("rewrite", "--only", "NOPE123", ".", cwd=project)
    assert result.returncode == 2
    assert b"unknown code NOPE123; known codes: " in result.stderr
    assert all(code.encode() in result.stderr for code in ALL_CODES)


def test_real_index_reaches_spawned_workers(project: Path, monkeypatch):
    """The real ProjectIndex pickles: the pool also works where workers are not forked."""
    from celery2cfq import engine
    from celery2cfq.model import Options

    monkeypatch.setattr(engine, "_POOL_START_METHOD", "spawn")
    pooled = engine.run([project], options=Options(), jobs=2)
    serial = engine.run([project], options=Options(), jobs=1)
    assert pooled == serial
    assert pooled.summary.files_changed >= 2 and pooled.summary.files_failed == 0


def test_result_backend_option_replaces_the_backend(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "celery.py").write_text(APP.replace('broker="redis://localhost:6379/0"', 'broker="redis://h", backend="rpc://"'))
    result = celery2cfq("rewrite", "--result-backend", "sqlite:///results.db", str(project), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'backend="sqlite:///results.db"' in (project / "celery.py").read_text()
    assert b"CFQ207" not in result.stdout + result.stderr


def test_result_backend_option_refuses_a_backend_the_shim_lacks(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "celery.py").write_text(APP)
    result = celery2cfq("rewrite", "--result-backend", "mongodb://u:secret@m/db", str(project), cwd=tmp_path)
    assert result.returncode == 2
    assert b"'mongodb' is not a result backend cfq_shim supports; use one of redis://" in result.stderr
    assert b"secret" not in result.stderr
    assert (project / "celery.py").read_text() == APP


def test_result_backend_from_pyproject(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.celery2cfq]\nresult-backend = "redis://cache:6379/1"\n')
    (project / "celery.py").write_text(APP.replace('broker="redis://localhost:6379/0"', 'backend="rpc://"'))
    result = celery2cfq("rewrite", str(project), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'backend="redis://cache:6379/1"' in (project / "celery.py").read_text()
