"""Find the files a run covers.

- A directory is walked for ``*.py`` files and, when the run is given a ``classify`` function
  (the non-Python codemod's :func:`celery2cfq.files.kind_of`), for every file it names a format
  for (Procfiles, Dockerfiles, YAML, requirements files …). The name is all it looks at, so the
  walk stays as cheap as before; in sorted order, without following symbolic links.
- Directories that never hold project code are skipped: :data:`DEFAULT_EXCLUDED_DIRS`.
- ``.gitignore`` files are honoured, by our own matcher for the common subset of gitignore
  patterns (comments, ``!`` negation, a trailing ``/`` for directories only, patterns anchored by a
  ``/``, ``*``, ``?``, ``[...]`` and ``**``). The ``.gitignore`` files of the enclosing git
  repository above the walked directory count too. Not read: ``.git/info/exclude`` and the user's
  global excludes file. No ``git`` binary is needed, and trees that are not git repositories work
  the same way.
- ``--exclude GLOB`` skips every file or directory whose project-relative path or name matches the
  glob (``fnmatch`` rules, where ``*`` also matches ``/``).
- A file named on the command line is always taken (unless ``--exclude`` matches it), whatever its
  suffix and whatever ``.gitignore`` says.
- A directory that cannot be listed (no permission) is not skipped silently: it is returned in
  :attr:`Discovery.unreadable`, and the run reports it as a failure.

Every file gets a ``key``: its path relative to the project root (the deepest directory holding
every argument), with ``/`` separators. The index and the fixers know files by that key.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["DEFAULT_EXCLUDED_DIRS", "SourceFile", "Discovery", "discover", "project_root"]

DEFAULT_EXCLUDED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "build", "dist",
        "__pycache__", "site-packages", ".eggs", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    }
)


@dataclass(frozen=True)
class SourceFile:
    #: Where to read and write it.
    path: Path
    #: How reports name it: the path as the user gave it, with ``/`` separators.
    display: str
    #: Its path relative to the project root, with ``/`` separators.
    key: str
    #: "python", or the format ``classify`` named for it.
    kind: str = "python"


@dataclass(frozen=True)
class Discovery:
    root: Path
    files: tuple[SourceFile, ...]
    #: (display path, reason) of each directory that could not be listed, sorted.
    unreadable: tuple[tuple[str, str], ...] = ()


def project_root(paths: Sequence[Path]) -> Path:
    """The deepest directory that holds every path (a directory holds itself)."""
    dirs = [str(p.resolve() if p.is_dir() else p.resolve().parent) for p in paths]
    return Path(os.path.commonpath(dirs)) if dirs else Path.cwd()


def discover(paths: Sequence[Path], *, excludes: Sequence[str] = (),
             classify: Callable[[str], str | None] | None = None) -> Discovery:
    """Every Python file under ``paths`` (and every file ``classify`` names a format for), once
    each, sorted by key.

    Raises ``FileNotFoundError`` naming the first path that does not exist.
    """
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
    root = project_root(paths)
    found: dict[str, SourceFile] = {}
    unreadable: dict[str, str] = {}
    for given in paths:
        for source in _walk(given, root, excludes, unreadable, classify):
            found.setdefault(source.key, source)
    return Discovery(root=root, files=tuple(found[key] for key in sorted(found)),
                     unreadable=tuple(sorted(unreadable.items())))


def _walk(given: Path, root: Path, excludes: Sequence[str], unreadable: dict[str, str],
          classify: Callable[[str], str | None] | None = None) -> Iterable[SourceFile]:
    """The files under ``given``; directories that cannot be listed go into ``unreadable``
    (display path -> reason)."""
    def key_of(absolute: str) -> str:
        return PurePosixPath(Path(os.path.relpath(absolute, root))).as_posix()

    def excluded(key: str) -> bool:
        name = key.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(key, g) or fnmatch.fnmatchcase(name, g) for g in excludes)

    if not given.is_dir():
        key = key_of(str(given.resolve()))
        if not excluded(key):
            kind = classify(key) if classify is not None and not key.endswith(".py") else None
            yield SourceFile(path=given, display=given.as_posix(), key=key, kind=kind or "python")
        return

    start = given.resolve()

    def not_listed(error: OSError) -> None:
        where = Path(error.filename) if error.filename else start
        display = (given / where.relative_to(start)).as_posix()
        unreadable.setdefault(display, f"could not list the directory: {error.strerror or error}")

    ignore = _GitIgnore.for_walk(start)
    for dirpath, dirnames, filenames in os.walk(start, onerror=not_listed):
        ignore.load(dirpath)
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            full = here / name
            if name in DEFAULT_EXCLUDED_DIRS or full.is_symlink():
                continue
            if excluded(key_of(str(full))) or ignore.ignored(str(full), is_dir=True):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.endswith(".py"):
                kind = "python"
            elif classify is not None:
                # The parent's name and the file's: all classify looks at, and cheaper than a relative path.
                kind = classify(f"{os.path.basename(dirpath)}/{name}")
                if kind is None:
                    continue
            else:
                continue
            full = here / name
            if full.is_symlink() or ignore.ignored(str(full), is_dir=False):
                continue
            key = key_of(str(full))
            if excluded(key):
                continue
            display = (given / full.relative_to(start)).as_posix()
            yield SourceFile(path=given / full.relative_to(start), display=display, key=key, kind=kind)


@dataclass(frozen=True)
class _Rule:
    base: str  # directory of the .gitignore, relative to the matcher's root ("" for the root)
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    anchored: bool


class _GitIgnore:
    """The ``.gitignore`` rules that apply under one walk; later rules override earlier ones."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._rules: list[_Rule] = []

    @classmethod
    def for_walk(cls, start: Path) -> _GitIgnore:
        """Rules rooted at the enclosing git repository (if any), with its ``.gitignore`` files
        from the repository root down to, but not including, ``start``."""
        repo = next((d for d in (start, *start.parents) if (d / ".git").exists()), None)
        matcher = cls(repo or start)
        if repo is not None and repo != start:
            chain = [start.parent]
            chain.extend(d for d in start.parent.parents if d.is_relative_to(repo))
            for directory in reversed(chain):
                matcher.load(str(directory))
        return matcher

    def load(self, directory: str) -> None:
        try:
            text = Path(directory, ".gitignore").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        base = self._relative(directory)
        for line in text.splitlines():
            rule = _parse_rule(line, base)
            if rule is not None:
                self._rules.append(rule)

    def ignored(self, path: str, *, is_dir: bool) -> bool:
        if not self._rules:
            return False
        relative = self._relative(path)
        verdict = False
        for rule in self._rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.base:
                if not relative.startswith(rule.base + "/"):
                    continue
                sub = relative[len(rule.base) + 1 :]
            else:
                sub = relative
            subject = sub if rule.anchored else sub.rsplit("/", 1)[-1]
            if rule.regex.fullmatch(subject):
                verdict = not rule.negate
        return verdict

    def _relative(self, path: str) -> str:
        relative = os.path.relpath(path, self._root).replace(os.sep, "/")
        return "" if relative == "." else relative


def _parse_rule(line: str, base: str) -> _Rule | None:
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        return None
    line = line.rstrip(" ")
    negate = line.startswith("!")
    if negate:
        line = line[1:]
    elif line.startswith("\\"):  # "\#" and "\!" stand for a literal first character
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    return _Rule(base=base, regex=re.compile(_translate(line)), negate=negate, dir_only=dir_only,
                 anchored=anchored)


def _translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over ``/``-separated paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif pattern[i] == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
