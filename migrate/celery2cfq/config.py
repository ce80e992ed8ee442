"""Settings from ``[tool.celery2cfq]`` in the target project's ``pyproject.toml``.

The file is looked for in the project root and then its parents, stopping at the first directory
that holds a ``pyproject.toml`` or a ``.git`` (the repository's top). The first ``pyproject.toml``
found is the one used, even if it has no ``[tool.celery2cfq]`` table. Command-line options win
over the file, except ``exclude``, whose globs are added to those given with ``--exclude``.

Keys (``-`` or ``_`` both accepted)::

    [tool.celery2cfq]
    broker = "cloudflare://"        # --broker
    result-backend = "sqlite:///results.db"  # --result-backend
    todo-comments = true            # --todo-comments
    exclude = ["legacy/*"]          # --exclude, repeatable
    only = ["CODE"]                 # --only
    skip = ["CODE"]                 # --skip
    jobs = 2                        # --jobs
    report = "json"                 # --report
    only-python = true              # --only-python
    exit-zero = true                # --exit-zero
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

__all__ = ["ConfigError", "FileConfig", "find_pyproject", "load_config"]


class ConfigError(Exception):
    """The configuration file is unreadable or holds a wrong key or value; the message names it."""


@dataclass(frozen=True)
class FileConfig:
    #: The file the values came from, or None when there was none.
    source: Path | None = None
    broker: str | None = None
    result_backend: str | None = None
    todo_comments: bool | None = None
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    jobs: int | None = None
    report: str | None = None
    only_python: bool = False
    exit_zero: bool = False


_KINDS: dict[str, type] = {
    "broker": str, "result_backend": str, "todo_comments": bool, "exclude": list, "only": list, "skip": list, "jobs": int,
    "report": str, "only_python": bool, "exit_zero": bool,
}


def find_pyproject(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists():
            return None
    return None


def load_config(start: Path) -> FileConfig:
    """The ``[tool.celery2cfq]`` settings that apply to a project rooted at ``start``."""
    path = find_pyproject(start)
    if path is None:
        return FileConfig()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: could not read: {exc.strerror}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool] must be a table")
    table = tool.get("celery2cfq", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.celery2cfq] must be a table")
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        kind = _KINDS.get(key)
        if kind is None:
            known = ", ".join(k.replace("_", "-") for k in _KINDS)
            raise ConfigError(f"{path}: unknown key {raw_key!r} in [tool.celery2cfq]; known keys: {known}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: [tool.celery2cfq] {raw_key} must be a {_kind_name(kind)}")
        if kind is list:
            if not all(isinstance(item, str) for item in value):
                raise ConfigError(f"{path}: [tool.celery2cfq] {raw_key} must be a list of strings")
            value = tuple(value)
        values[key] = value
    return FileConfig(source=path, **values)


def _kind_name(kind: type) -> str:
    return {str: "string", bool: "boolean (true or false)", int: "whole number", list: "list of strings"}[kind]
