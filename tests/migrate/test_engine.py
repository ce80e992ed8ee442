"""The engine's guarantees, driven by the fake codemod in engine_fakes.py."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from celery2cfq import engine, writer
from celery2cfq.engine import run
from celery2cfq.model import Finding, Options
from engine_fakes import CELERY, FAKE, MIGRATED, PLAIN, index_builds, refuse_to_list

def run_fake(*paths: Path, **kwargs):
    kwargs.setdefault("options", Options())
    return run(list(paths), codemod=FAKE, **kwargs)


def by_path(result):
    return {Path(r.path).name: r for r in result.files}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tasks.py").write_text(CELERY)
    (tmp_path / "plain.py").write_text(PLAIN)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "jobs.py").write_text(CELERY + "add.delay(1, 2)\n")
    return tmp_path


def test_writes_changes_and_leaves_other_files_byte_identical(project: Path):
    before_plain = (project / "plain.py").read_bytes()
    result = run_fake(project, write=True)
    assert (project / "tasks.py").read_text() == MIGRATED
    assert (project / "plain.py").read_bytes() == before_plain
    assert result.summary.files_scanned == 3
    assert result.summary.files_changed == 2
    assert result.summary.tasks_found == 2
    assert result.summary.call_sites == 1
    assert result.exit_code(check_or_diff=False) == 0


def test_second_run_changes_nothing(project: Path):
    run_fake(project, write=True)
    snapshot = {p: p.read_bytes() for p in project.rglob("*.py")}
    again = run_fake(project, write=True)
    assert again.summary.files_changed == 0
    assert {p: p.read_bytes() for p in project.rglob("*.py")} == snapshot
    assert again.exit_code(check_or_diff=True) == 0


def test_without_write_nothing_is_written_and_exit_is_1(project: Path):
    result = run_fake(project, write=False)
    assert (project / "tasks.py").read_text() == CELERY
    assert result.summary.files_changed == 2
    assert result.exit_code(check_or_diff=True) == 1
    diff = by_path(result)["tasks.py"].diff
    assert "-from celery import shared_task\n+from cfq_shim import shared_task\n" in diff
    assert diff.startswith(f"--- a/{project.as_posix()}/tasks.py\n+++ b/")


def test_results_are_sorted_and_use_the_given_path(project: Path, monkeypatch):
    monkeypatch.chdir(project.parent)
    result = run_fake(Path(project.name))
    assert [r.path for r in result.files] == [f"{project.name}/{n}" for n in ("pkg/jobs.py", "plain.py", "tasks.py")]


def test_index_is_built_once_over_candidates_with_root_relative_keys(project: Path):
    index_builds.clear()
    run_fake(project)
    assert len(index_builds) == 1
    assert sorted(index_builds[0]) == ["pkg/jobs.py", "tasks.py"]  # plain.py never passed the pre-filter


def test_syntax_error_fails_that_file_and_the_others_are_still_written(project: Path):
    (project / "bad.py").write_text("from celery import x\ndef broken(:\n")
    result = run_fake(project, write=True)
    bad = by_path(result)["bad.py"]
    assert bad.error is not None and "line 2" in bad.error
    assert (project / "tasks.py").read_text() == MIGRATED
    assert result.summary.files_failed == 1
    assert result.exit_code(check_or_diff=False) == 2
    assert result.exit_code(check_or_diff=True) == 2


def test_fixer_bug_is_an_internal_error_for_that_file_only(project: Path):
    (project / "boom.py").write_text("BOOM = 1\n")
    result = run_fake(project, write=True)
    boom = by_path(result)["boom.py"]
    assert boom.error == "internal error in celery2cfq (please report): KeyError: 'fixer bug'"
    assert by_path(result)["tasks.py"].changed


def test_a_missing_dependency_names_it_and_the_fix_instead_of_asking_for_a_report(project: Path, monkeypatch):
    def transform(source, **kwargs):
        if "BOOM" in source:
            raise ModuleNotFoundError("No module named 'ruamel'", name="ruamel")
        return FAKE.transform_source(source, **kwargs)

    (project / "boom.py").write_text("BOOM = 1\n")
    codemod = dataclasses.replace(FAKE, transform_source=transform)
    result = run([project], codemod=codemod, options=Options(), write=True)
    assert by_path(result)["boom.py"].error == (
        "celery2cfq's dependency 'ruamel.yaml' is not installed (No module named 'ruamel'); reinstall celery2cfq "
        "(pip install --upgrade celery2cfq, or pip install -e . in a checkout)")
    assert result.exit_code(check_or_diff=False) == 2


def test_a_missing_module_that_is_not_a_dependency_is_still_a_bug_to_report(project: Path):
    def transform(source, **kwargs):
        if "BOOM" in source:
            raise ModuleNotFoundError("No module named 'celery2cfq.gone'", name="celery2cfq.gone")
        return FAKE.transform_source(source, **kwargs)

    (project / "boom.py").write_text("BOOM = 1\n")
    result = run([project], codemod=dataclasses.replace(FAKE, transform_source=transform), options=Options())
    assert by_path(result)["boom.py"].error.startswith("internal error in celery2cfq (please report): ModuleNotFoundError")


@pytest.mark.parametrize("marker", ["UNSTABLE", "BROKEN"])
def test_output_that_is_unstable_or_invalid_is_not_written(project: Path, marker: str):
    source = CELERY + f"# {marker}\n"
    (project / "odd.py").write_text(source)
    result = run_fake(project, write=True)
    odd = by_path(result)["odd.py"]
    assert odd.error is not None and odd.error.startswith("internal error in celery2cfq (please report)")
    assert ("not stable" if marker == "UNSTABLE" else "not valid Python") in odd.error
    assert not odd.changed and odd.new_bytes is None
    assert (project / "odd.py").read_text() == source


def test_findings_are_reported_with_lines_and_counted(project: Path):
    (project / "ctl.py").write_text("import celery\nx = 1\napp.control.INSPECT()\n")
    result = run_fake(project)
    assert by_path(result)["ctl.py"].findings == (Finding(3, "C2C900", "inspect() has no equivalent"),)
    assert result.summary.findings == {"C2C900": 1}


def test_crlf_latin1_and_bom_files_keep_their_bytes(tmp_path: Path):
    crlf = CELERY.replace("\n", "\r\n").encode()
    latin1 = ("# -*- coding: latin-1 -*-\n" + CELERY + "NAME = 'café'\n").encode("latin-1")
    bom = b"\xef\xbb\xbf" + CELERY.encode()
    for name, data in {"crlf.py": crlf, "latin1.py": latin1, "bom.py": bom}.items():
        (tmp_path / name).write_bytes(data)
    result = run_fake(tmp_path, write=True)
    assert result.summary.files_changed == 3 and result.summary.files_failed == 0
    assert (tmp_path / "crlf.py").read_bytes() == MIGRATED.replace("\n", "\r\n").encode()
    assert (tmp_path / "latin1.py").read_bytes() == latin1.replace(b"from celery", b"from cfq_shim")
    assert (tmp_path / "bom.py").read_bytes() == b"\xef\xbb\xbf" + MIGRATED.encode()


def test_file_mode_is_kept(project: Path):
    target = project / "tasks.py"
    target.chmod(0o750)
    run_fake(project, write=True)
    assert target.read_text() == MIGRATED
    assert stat.S_IMODE(target.stat().st_mode) == 0o750


def test_symlinked_file_named_explicitly_is_written_through(tmp_path: Path):
    real = tmp_path / "real.py"
    real.write_text(CELERY)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    run_fake(link, write=True)
    assert link.is_symlink()
    assert real.read_text() == MIGRATED


def test_interrupted_write_leaves_the_old_file_and_no_temp_file(project: Path, monkeypatch):
    def fail_before_rename(temp_name, target):
        assert Path(temp_name).read_text() == MIGRATED  # the new content was fully written first
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_rename", fail_before_rename)
    result = run_fake(project / "tasks.py", write=True)
    assert result.files[0].error == "could not write: No space left on device"
    assert result.exit_code(check_or_diff=False) == 2
    assert (project / "tasks.py").read_text() == CELERY
    assert sorted(p.name for p in project.iterdir()) == ["pkg", "plain.py", "tasks.py"]


def test_keyboard_interrupt_during_write_leaves_the_old_file(project: Path, monkeypatch):
    def interrupted(temp_name, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_fake(project / "tasks.py", write=True)
    assert (project / "tasks.py").read_text() == CELERY
    assert sorted(p.name for p in project.iterdir()) == ["pkg", "plain.py", "tasks.py"]


def test_file_edited_since_it_was_read_is_not_overwritten(tmp_path: Path):
    target = tmp_path / "f.py"
    target.write_text("edited by someone else\n")
    with pytest.raises(writer.WriteError, match="changed on disk"):
        writer.replace_file(target, b"new\n", expected_old_bytes=b"old\n")
    assert target.read_text() == "edited by someone else\n"


def test_bad_inputs_are_reported_with_their_cause(tmp_path: Path, monkeypatch):
    (tmp_path / "binary.py").write_bytes(b"celery = 1\n\x00\x01")
    (tmp_path / "notutf8.py").write_bytes(b"import celery\nname = '\xe9'\n")
    (tmp_path / "huge.py").write_bytes(b"import celery\n" + b"x = 1\n" * 100)
    (tmp_path / "ok.py").write_text(CELERY)
    monkeypatch.setattr("celery2cfq.source_io.MAX_SOURCE_BYTES", 200)
    result = by_path(run_fake(tmp_path, write=True))
    assert result["binary.py"].error == "file looks binary (NUL byte on line 2)"
    assert result["notutf8.py"].error.startswith("line 2: bytes that are not valid UTF-8")
    assert result["huge.py"].error.startswith("file is too large to migrate (614 bytes; the limit is 200)")
    assert result["ok.py"].changed and result["ok.py"].error is None


def test_pool_gives_the_same_results_as_in_process(project: Path):
    for n in range(6):
        (project / f"more{n}.py").write_text(CELERY + f"# {n}\n")
    (project / "bad.py").write_text("import celery\ndef (:\n")
    serial = run_fake(project, jobs=1)
    pooled = run_fake(project, jobs=2)
    assert pooled == serial
    assert pooled.summary.files_changed == 8 and pooled.summary.files_failed == 1


def test_progress_reaches_the_total(project: Path):
    calls: list[tuple[int, int]] = []
    run_fake(project, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_missing_path_raises_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope"):
        run_fake(tmp_path / "nope")


def test_run_bytes_migrates_text_not_on_disk():
    result = engine.run_bytes(CELERY.encode(), display="-", options=Options(), codemod=FAKE)
    assert result.changed and result.new_bytes == MIGRATED.encode()
    untouched = engine.run_bytes(PLAIN.encode(), display="-", options=Options(), codemod=FAKE)
    assert not untouched.changed and untouched.error is None


def test_default_jobs_is_at_least_one():
    assert engine.default_jobs() >= 1
    assert engine.default_jobs() <= (os.cpu_count() or 1)


def test_pool_works_with_spawned_workers(project: Path, monkeypatch):
    """Python 3.14 and macOS do not fork: the index, options and transform must reach workers pickled."""
    monkeypatch.setattr(engine, "_POOL_START_METHOD", "spawn")
    (project / "bad.py").write_text("import celery\ndef (:\n")
    result = run_fake(project, jobs=2, write=True)
    assert (project / "tasks.py").read_text() == MIGRATED
    assert result.summary.files_changed == 2 and result.summary.files_failed == 1


def test_a_directory_that_cannot_be_listed_fails_the_run(project: Path, monkeypatch):
    locked = project / "locked"
    locked.mkdir()
    (locked / "more.py").write_text(CELERY)
    refuse_to_list(monkeypatch, locked)
    result = run_fake(project, write=True)
    failed = by_path(result)["locked"]
    assert failed.error == "could not list the directory: Permission denied"
    assert result.summary.files_scanned == 4 and result.summary.files_failed == 1
    assert (project / "tasks.py").read_text() == MIGRATED  # the other files are still migrated
    assert result.exit_code(check_or_diff=False) == engine.EXIT_FAILED
