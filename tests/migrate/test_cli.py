"""``celery2cfq rewrite`` through click's CliRunner (with the fake codemod) and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from celery2cfq import cli, engine
from engine_fakes import CELERY, FAKE, FAKE_CODES, MIGRATED, PLAIN


@pytest.fixture(autouse=True)
def fake_codemod(monkeypatch):
    monkeypatch.setattr(engine, "celery_codemod", lambda: FAKE)
    monkeypatch.setattr(cli, "known_codes", lambda: FAKE_CODES)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tasks.py").write_text(CELERY)
    (root / "plain.py").write_text(PLAIN)
    return root


def invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli.main, ["rewrite", *args], input=input, catch_exceptions=False)


def test_write_mode_rewrites_and_exits_0(project: Path):
    result = invoke(str(project), "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert (project / "tasks.py").read_text() == MIGRATED
    assert f"{project.as_posix()}/tasks.py: rewritten" in result.stdout
    assert "2 files scanned, 1 rewritten, 0 failed" in result.stdout


@pytest.mark.parametrize("flag", ["--diff", "--check"])
def test_diff_and_check_write_nothing_and_exit_1(project: Path, flag: str):
    result = invoke(str(project), flag)
    assert result.exit_code == 1
    assert (project / "tasks.py").read_text() == CELERY
    has_diff = "+from cfq_shim import shared_task" in result.stdout
    assert has_diff == (flag == "--diff")
    assert "1 would be rewritten" in result.stdout


def test_check_after_rewrite_exits_0(project: Path):
    assert invoke(str(project)).exit_code == 0
    assert invoke(str(project), "--check").exit_code == 0


def test_syntax_error_exits_2_and_other_files_are_still_written(project: Path):
    (project / "bad.py").write_text("import celery\ndef f(:\n")
    result = invoke(str(project))
    assert result.exit_code == 2
    assert (project / "tasks.py").read_text() == MIGRATED
    assert f"{project.as_posix()}/bad.py: error: line 2: does not parse" in result.stdout
    assert "Traceback" not in result.output


def test_json_report_on_stdout_holds_the_schema_fields(project: Path):
    result = invoke(str(project), "--diff", "--report", "json")
    data = json.loads(result.stdout)  # nothing else on stdout
    assert data["schema_version"] == 1
    assert data["summary"]["files_changed"] == 1
    tasks = next(f for f in data["files"] if f["path"].endswith("tasks.py"))
    assert tasks["changed"] is True and tasks["error"] is None
    assert "+from cfq_shim import" in tasks["diff"]


def test_report_file_gets_the_report_and_stdout_the_diffs(project: Path, tmp_path: Path):
    out = tmp_path / "report.md"
    result = invoke(str(project), "--diff", "--report", "markdown", "--report-file", str(out))
    assert result.exit_code == 1
    assert out.read_text().startswith("# celery2cfq report\n")
    assert result.stdout.startswith(f"--- a/{project.as_posix()}/tasks.py")


def test_unwritable_report_file_is_a_clear_error_not_a_traceback(project: Path, tmp_path: Path):
    out = tmp_path / "missing-dir" / "report.txt"
    result = invoke(str(project), "--check", "--report-file", str(out))
    assert result.exit_code == 2
    assert f"could not write the report to {out}: No such file or directory" in result.stderr
    assert not out.exists()


def test_unknown_only_code_is_a_usage_error_naming_known_codes(project: Path):
    result = invoke(str(project), "--only", "C2C900,NOPE")
    assert result.exit_code == 2
    assert "unknown code NOPE; known codes: C2C900, C2C901" in result.stderr
    assert (project / "tasks.py").read_text() == CELERY


def test_exclude_skips_matching_files(project: Path):
    result = invoke(str(project), "--exclude", "tasks.py", "--check")
    assert result.exit_code == 0
    assert "1 file scanned" in result.stdout


def test_config_file_settings_apply_and_cli_wins(project: Path):
    (project / "pyproject.toml").write_text('[tool.celery2cfq]\nexclude = ["tasks.py"]\nreport = "json"\n')
    result = invoke(str(project), "--check")
    assert json.loads(result.stdout)["summary"]["files_scanned"] == 1
    result = invoke(str(project), "--check", "--report", "text")
    assert result.stdout.endswith("1 file scanned, 0 would be rewritten, 0 failed; 0 tasks, 0 call sites; 0 findings\n")


def test_bad_config_is_a_usage_error_naming_the_key(project: Path):
    (project / "pyproject.toml").write_text("[tool.celery2cfq]\nbrokr = 'x'\n")
    result = invoke(str(project))
    assert result.exit_code == 2
    assert "unknown key 'brokr'" in result.stderr


def test_bad_broker_is_a_usage_error(project: Path):
    result = invoke(str(project), "--broker", "redis-host")
    assert result.exit_code == 2 and "is not a URL" in result.stderr


def test_stdin_is_rewritten_to_stdout():
    result = invoke("-", input=CELERY.encode())
    assert result.exit_code == 0
    assert result.stdout == MIGRATED
    assert "1 file scanned, 1 rewritten" in result.stderr


def test_stdin_with_check_prints_no_code():
    result = invoke("-", "--check", input=CELERY.encode())
    assert result.exit_code == 1 and result.stdout == ""


def test_quiet_prints_only_errors(project: Path):
    (project / "bad.py").write_text("import celery\ndef f(:\n")
    result = invoke(str(project), "-q", "--check")
    assert result.stdout.splitlines() == [f"{project.as_posix()}/bad.py: error: line 2: does not parse: invalid syntax"]


def test_help_documents_exit_codes_and_version():
    runner = CliRunner()
    help_text = runner.invoke(cli.main, ["rewrite", "--help"]).output
    assert "Exit codes:" in help_text and "2  a file could not be processed" in help_text
    assert runner.invoke(cli.main, ["--version"]).output == "celery2cfq, version 0.1.0\n"


def test_missing_path_is_a_usage_error(tmp_path: Path):
    result = invoke(str(tmp_path / "nope"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_environment_tokens_never_appear_in_output(project: Path, monkeypatch):
    secret = "cf-token-do-not-print-0123456789"
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", secret)
    for args in (["--diff", "-vv"], ["--report", "json"], ["--report", "markdown", "--check"]):
        result = invoke(str(project), *args)
        assert secret not in result.output


def test_real_subprocess_with_fake_codemod(project: Path):
    """The console entry point end to end: stdout/stderr separation and exit codes."""
    (project / "bad.py").write_text("import celery\ndef f(:\n")
    bootstrap = (
        "import sys; sys.path.insert(0, sys.argv.pop(1));"
        "import engine_fakes, celery2cfq.engine as e, celery2cfq.cli as c;"
        "e.celery_codemod = lambda: engine_fakes.FAKE;"
        "c.main(prog_name='celery2cfq')"
    )
    here = str(Path(__file__).parent)
    env = {k: v for k, v in os.environ.items() if k != "CLOUDFLARE_API_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-c", bootstrap, here, "rewrite", str(project), "--jobs", "2", "-v"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert (project / "tasks.py").read_text() == MIGRATED
    assert f"{project.as_posix()}/bad.py: error:" in proc.stdout
    assert "celery2cfq: done in" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_progress_bar_goes_to_stderr_only_for_many_files_on_a_terminal(tmp_path: Path, monkeypatch):
    for n in range(cli.PROGRESS_BAR_MIN_FILES):
        (tmp_path / f"m{n:03}.py").write_text(PLAIN)
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: True)
    result = invoke(str(tmp_path), "--check")
    assert "migrating" in result.stderr and "migrating" not in result.stdout
    assert invoke(str(tmp_path), "--check", "-q").stderr == ""
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: False)
    assert invoke(str(tmp_path), "--check").stderr == ""


def test_unknown_code_in_config_names_the_file(project: Path):
    (project / "pyproject.toml").write_text('[tool.celery2cfq]\nskip = ["NOPE"]\n')
    result = invoke(str(project))
    assert result.exit_code == 2
    assert f"'skip' in {project / 'pyproject.toml'}" in result.stderr and "unknown code NOPE" in result.stderr


def test_stdin_that_cannot_be_migrated_is_printed_back_and_exits_2():
    source = b"import celery\ndef f(:\n"
    result = invoke("-", input=source)
    assert result.exit_code == 2
    assert result.stdout_bytes == source
    assert "-: error: line 2" in result.stderr
