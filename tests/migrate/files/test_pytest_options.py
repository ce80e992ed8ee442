"""CFQ612: ``-p celery.contrib.pytest`` leaves pytest's options (ini files, pyproject, command lines),
and a migrated project's tests then run on cfq_shim's plugin under the real pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from celery2cfq.engine import run
from celery2cfq.model import Options
from files_support import migrate


@pytest.mark.parametrize(("name", "before", "after"), [
    ("pytest.ini", "[pytest]\naddopts = -p celery.contrib.pytest --strict-markers\n",
     "[pytest]\naddopts = --strict-markers\n"),
    ("pytest.ini", "[pytest]\naddopts = --strict-markers -pcelery.contrib.pytest\ntestpaths = t\n",
     "[pytest]\naddopts = --strict-markers\ntestpaths = t\n"),
    # Only the plugin: the key goes, continuation lines and all.
    ("pytest.ini", "[pytest]\naddopts =\n    -p celery.contrib.pytest\ntestpaths = t\n", "[pytest]\ntestpaths = t\n"),
    ("tox.ini", "[pytest]\naddopts =\n    -ra\n    -p celery.contrib.pytest\n    --tb=short\n",
     "[pytest]\naddopts =\n    -ra\n    --tb=short\n"),
    ("tox.ini", "[testenv]\ncommands =\n    pytest -p celery.contrib.pytest {posargs}\n    python -m pytest "
     "-pcelery.contrib.pytest -x\n", "[testenv]\ncommands =\n    pytest {posargs}\n    python -m pytest -x\n"),
    ("setup.cfg", "[metadata]\nname = x\n\n[tool:pytest]\naddopts = -p celery.contrib.pytest\ntestpaths = t\n",
     "[metadata]\nname = x\n\n[tool:pytest]\ntestpaths = t\n"),
    ("pyproject.toml", '[tool.pytest.ini_options]\n# ours\naddopts = "-ra -p celery.contrib.pytest"  # keep\n',
     '[tool.pytest.ini_options]\n# ours\naddopts = "-ra"  # keep\n'),
    ("pyproject.toml", "[tool.pytest.ini_options]\naddopts = '''\n  -p celery.contrib.pytest\n  -ra'''\n",
     "[tool.pytest.ini_options]\naddopts = '''\n  -ra'''\n"),
    ("pyproject.toml", '[tool.pytest]\naddopts = ["-p", "celery.contrib.pytest", "-ra"]\n',
     '[tool.pytest]\naddopts = ["-ra"]\n'),
    ("pyproject.toml", '[tool.pytest.ini_options]\naddopts = "-p celery.contrib.pytest"\nminversion = "8"\n',
     '[tool.pytest.ini_options]\nminversion = "8"\n'),
    ("Makefile", "test:\n\tpytest -p celery.contrib.pytest tests\n", "test:\n\tpytest tests\n"),
    (".github/workflows/ci.yml", "jobs:\n  t:\n    steps:\n      - run: py.test -p celery.contrib.pytest -q\n",
     "jobs:\n  t:\n    steps:\n      - run: py.test -q\n"),
])
def test_the_option_is_removed_and_a_second_run_is_a_no_op(tmp_path, name, before, after):
    result, files = migrate(tmp_path, {name: before})
    assert files[name] == after
    assert [f.code for r in result.files for f in r.findings if f.code == "CFQ612"]
    again = run([tmp_path], options=Options(), jobs=1, write=False)
    assert again.summary.files_changed == 0


@pytest.mark.parametrize(("name", "text"), [
    ("pytest.ini", "[pytest]\naddopts = -p no:celery -p other.plugin\n"),
    ("setup.cfg", "[flake8]\naddopts = -p celery.contrib.pytest\n"),  # not pytest's section
    ("pyproject.toml", '[tool.other]\naddopts = "-p celery.contrib.pytest"\n'),
    ("Makefile", "x:\n\techo -p celery.contrib.pytest\n"),  # not a pytest command
    ("tox.ini", "[testenv]\ndescription = runs pytest -p celery.contrib.pytest\n"),
])
def test_other_places_stay_byte_identical(tmp_path, name, text):
    result, files = migrate(tmp_path, {name: text})
    assert files[name] == text
    assert not [f for r in result.files for f in r.findings]


@pytest.mark.parametrize(("name", "text"), [
    ("pytest.ini", "[pytest]\naddopts = -p celery.contrib.pytest\n"),
    ("pyproject.toml", '[tool.pytest.ini_options]\naddopts = "-p celery.contrib.pytest"\n'),
    ("setup.cfg", "[tool:pytest]\naddopts = -p celery.contrib.pytest\n"),
])
def test_skipping_the_rule_keeps_the_option(tmp_path, name, text):
    _, files = migrate(tmp_path, {name: text}, options=Options(skip=frozenset({"CFQ612"})))
    assert files[name] == text


def test_skipping_the_rule_keeps_the_option_on_command_lines_and_the_rest_is_migrated(tmp_path):
    text = "test:\n\tpytest -p celery.contrib.pytest\nrun:\n\tcelery -A proj worker -E\n"
    _, files = migrate(tmp_path, {"Makefile": text}, options=Options(skip=frozenset({"CFQ612"})))
    assert files["Makefile"] == "test:\n\tpytest -p celery.contrib.pytest\nrun:\n\tcfq-shim -A proj worker\n"


def test_an_unreadable_tox_ini_is_reported_and_left_alone(tmp_path):
    text = "[testenv\ncommands = pytest -p celery.contrib.pytest\n"
    result, files = migrate(tmp_path, {"tox.ini": text})
    assert files["tox.ini"] == text
    assert "could not read the INI file" in result.files[0].error


def test_pytest_celery_gets_a_finding(tmp_path):
    result, files = migrate(tmp_path, {"requirements-dev.txt": "pytest-celery==0.0.0\n"})
    assert files["requirements-dev.txt"] == "pytest-celery==0.0.0\n"
    (finding,) = result.files[0].findings
    assert finding.code == "CFQ712" and "would install it again" in finding.message


def test_the_migrated_project_runs_its_celery_fixtures_on_the_shim(tmp_path: Path):
    """Renaming the option instead (-p cfq_shim.contrib.pytest) is what pytest refuses; removed, the
    shim's entry point gives the fixtures and the worker runs the task."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p celery.contrib.pytest -q\n")
    (tmp_path / "test_tasks.py").write_text(
        "def test_add(celery_app, celery_worker):\n"
        "    @celery_app.task\n"
        "    def add(x, y):\n"
        "        return x + y\n"
        "    celery_worker.reload()\n"
        "    assert add.delay(2, 3).get(timeout=10) == 5\n")
    run([tmp_path], options=Options(), jobs=1, write=True)
    assert (tmp_path / "pytest.ini").read_text() == "[pytest]\naddopts = -q\n"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    migrated = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "1 passed" in migrated.stdout
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p cfq_shim.contrib.pytest -q\n")
    renamed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert renamed.returncode != 0 and "Plugin already registered" in renamed.stdout + renamed.stderr
