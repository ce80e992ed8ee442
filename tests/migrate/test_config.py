"""[tool.celery2cfq] in the target's pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from celery2cfq.config import ConfigError, FileConfig, load_config


def test_reads_every_key_with_dashes_or_underscores(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.celery2cfq]\nbroker = "sqlite:///t.db"\ntodo-comments = true\nexclude = ["a/*"]\n'
        'only = ["X"]\nskip = ["Y"]\njobs = 3\nreport = "json"\n'
    )
    assert load_config(tmp_path) == FileConfig(
        source=tmp_path / "pyproject.toml", broker="sqlite:///t.db", todo_comments=True, exclude=("a/*",),
        only=("X",), skip=("Y",), jobs=3, report="json",
    )


def test_found_in_a_parent_but_not_past_the_repository_top(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.celery2cfq]\njobs = 1\n")
    (tmp_path / "repo" / "app").mkdir(parents=True)
    assert load_config(tmp_path / "repo" / "app").jobs == 1
    (tmp_path / "repo" / ".git").mkdir()
    assert load_config(tmp_path / "repo" / "app") == FileConfig()


def test_nearest_pyproject_wins_even_without_the_table(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.celery2cfq]\njobs = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_config(tmp_path / "sub") == FileConfig(source=tmp_path / "sub" / "pyproject.toml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.celery2cfq]\nbrokr = 'x'\n", "unknown key 'brokr' in \\[tool.celery2cfq\\]; known keys: broker"),
        ("[tool.celery2cfq]\njobs = true\n", "jobs must be a whole number"),
        ("[tool.celery2cfq]\nexclude = 'a'\n", "exclude must be a list of strings"),
        ("[tool.celery2cfq]\nexclude = [1]\n", "exclude must be a list of strings"),
        ("[tool.celery2cfq\n", "not valid TOML"),
        ("[tool]\ncelery2cfq = 1\n", "\\[tool.celery2cfq\\] must be a table"),
        ("tool = 1\n", "\\[tool\\] must be a table"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, body: str, message: str):
    (tmp_path / "pyproject.toml").write_text(body)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(tmp_path)
    assert str(info.value).startswith(str(tmp_path / "pyproject.toml"))
