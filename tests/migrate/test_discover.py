"""Discovery: .py files, default excludes, .gitignore, --exclude, explicit files, root-relative keys."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from celery2cfq.discover import discover
from engine_fakes import refuse_to_list


def make(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def keys(*paths: Path, excludes=()) -> list[str]:
    return [f.key for f in discover(list(paths), excludes=excludes).files]


def test_walks_py_files_sorted_and_skips_usual_dirs(tmp_path: Path):
    make(tmp_path, "b.py", "a.py", "pkg/c.py", "README.md", "pkg/d.pyi",
         ".venv/lib/x.py", "venv/y.py", "node_modules/z.py", "build/b.py", "dist/d.py",
         "pkg/__pycache__/c.py", ".tox/t.py", "lib/site-packages/s.py", ".git/hooks/h.py")
    assert keys(tmp_path) == ["a.py", "b.py", "pkg/c.py"]


def test_gitignore_subset(tmp_path: Path):
    make(tmp_path, "keep.py", "gen_x.py", "gen_keep.py", "out/o.py", "src/out/o.py",
         "src/app/local.py", "docs/conf.py", "deep/a/b/skip_me.py", "sub/inner.py", "sub/other.py")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text(
        "# comment\n\ngen_*.py\n!gen_keep.py\n/out/\nsrc/app/local.py\ndocs\n**/b/skip_me.py\n"
    )
    (tmp_path / "sub" / ".gitignore").write_text("inner.py\n")
    assert keys(tmp_path) == ["gen_keep.py", "keep.py", "src/out/o.py", "sub/other.py"]


def test_gitignore_of_enclosing_repository_applies_to_a_subdirectory(tmp_path: Path):
    make(tmp_path, "app/tasks.py", "app/generated.py")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("generated.py\n")
    assert keys(tmp_path / "app") == ["tasks.py"]


def test_dir_only_pattern_does_not_match_files(tmp_path: Path):
    make(tmp_path, "cache.py", "cache/x.py")
    (tmp_path / ".gitignore").write_text("cache/\n")
    assert keys(tmp_path) == ["cache.py"]


def test_exclude_globs_match_paths_and_names(tmp_path: Path):
    make(tmp_path, "app/tasks.py", "app/migrations/0001.py", "tests/test_x.py", "conftest.py")
    assert keys(tmp_path, excludes=["migrations", "tests/*", "conf*.py"]) == ["app/tasks.py"]


def test_explicit_file_is_taken_whatever_gitignore_says(tmp_path: Path):
    make(tmp_path, "ignored.py", "script")
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    found = discover([tmp_path / "ignored.py", tmp_path / "script"]).files
    assert [f.key for f in found] == ["ignored.py", "script"]


def test_keys_are_relative_to_the_common_root_and_deduplicated(tmp_path: Path):
    make(tmp_path, "a/x.py", "b/y.py")
    assert keys(tmp_path / "a", tmp_path / "b", tmp_path / "a" / "x.py") == ["a/x.py", "b/y.py"]


def test_symlinks_are_not_followed_in_a_walk(tmp_path: Path):
    make(tmp_path, "real/x.py")
    (tmp_path / "linkdir").symlink_to(tmp_path / "real")
    (tmp_path / "link.py").symlink_to(tmp_path / "real" / "x.py")
    assert keys(tmp_path) == ["real/x.py"]


def test_missing_path(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="missing"):
        discover([tmp_path / "missing"])


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_matcher_agrees_with_git(tmp_path: Path):
    """Our matcher and git itself keep the same files on a tree exercising every supported rule."""
    make(tmp_path, "a.py", "gen_1.py", "gen_keep.py", "out/o.py", "src/out/o.py", "src/app/local.py",
         "docs/conf.py", "deep/a/b/skip_me.py", "deep/b/skip_me.py", "sub/inner.py", "sub/x/inner.py",
         "sub/other.py", "logs/keep.py", "cache.py", "cache/c.py", "lit#.py", "q1.py", "qq.py",
         "abc/x.py", "abd/x.py", "notes/deep/n.py", "notes/top.py", "#hash.py", "!bang.py")
    (tmp_path / ".gitignore").write_text(
        "# comment\n\ngen_*.py\n!gen_keep.py\n/out/\nsrc/app/local.py\ndocs\n**/b/skip_me.py\n"
        "cache/\nlit#.py\nq?.py\nab[c].py\nab[!c]/\nnotes/**/n.py\n\\#hash.py\n\\!bang.py\n"
    )
    (tmp_path / "sub" / ".gitignore").write_text("inner.py\n/other.py\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}  # no user excludes
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--", "*.py"],
        cwd=tmp_path, capture_output=True, text=True, check=True, env=env,
    ).stdout.split("\n")
    assert keys(tmp_path) == sorted(p for p in listed if p)


def test_a_directory_that_cannot_be_listed_is_reported_not_skipped(tmp_path: Path, monkeypatch):
    make(tmp_path, "a.py", "locked/b.py")
    refuse_to_list(monkeypatch, tmp_path / "locked")
    found = discover([tmp_path])
    assert [f.key for f in found.files] == ["a.py"]
    assert found.unreadable == ((f"{tmp_path.as_posix()}/locked", "could not list the directory: Permission denied"),)
