"""``-p celery.contrib.pytest`` on pytest's command line and in its configuration is removed (CFQ612).

Celery 5 no longer loads its pytest plugin by itself; projects name it with ``-p
celery.contrib.pytest``, in ``addopts`` (``pytest.ini`` and ``tox.ini`` ``[pytest]``, ``setup.cfg``
``[tool:pytest]``, ``pyproject.toml`` ``[tool.pytest.ini_options]`` or pytest 9's ``[tool.pytest]``)
or on a ``pytest`` command line (a Makefile recipe, a CI ``run:`` step, tox ``commands``). cfq_shim's
plugin has the same fixtures and loads through its ``pytest11`` entry point; naming it again with
``-p cfq_shim.contrib.pytest`` would make pytest refuse to start ("Plugin already registered under a
different name"), so the option goes, as CFQ105 does for ``pytest_plugins`` in Python.

``addopts`` is split by pytest with ``shlex``; it is read here with :mod:`.shell`'s lexer, which keeps
each word's position, so only the option and its value (and the blank before them) are removed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from ..model import Options
from ..names import CELERY_PYTEST_PLUGIN
from .edits import Edit, Note, Text, apply_edits
from .removal import removal_edits
from .shell import ShellSyntaxError, Word, lex, simple_commands

__all__ = ["CODE", "MESSAGE", "CELERY_PYTEST_PLUGIN", "plugin_words", "is_pytest_command", "addopts_edits", "ini_addopts", "toml_addopts"]

CODE = "CFQ612"
MESSAGE = ("`-p celery.contrib.pytest` was removed: cfq_shim's pytest plugin, with the same fixtures, loads itself "
            "(a pytest11 entry point); naming it again would register it twice")

Result = tuple[list[Edit], list[Note]]


def plugin_words(values: Sequence[str | None]) -> list[int]:
    """Indexes of the words that name Celery's plugin: ``-p celery.contrib.pytest`` (two words) or
    ``-pcelery.contrib.pytest`` (one)."""
    found: list[int] = []
    for i, value in enumerate(values):
        if value == "-p" and i + 1 < len(values) and values[i + 1] == CELERY_PYTEST_PLUGIN:
            found += [i, i + 1]
        elif value == "-p" + CELERY_PYTEST_PLUGIN:
            found.append(i)
    return found


def is_pytest_command(words: Sequence[Word]) -> int | None:
    """Where pytest's own arguments start in ``words`` (``pytest …``, ``py.test …``,
    ``python -m pytest …``, after ``VAR=value`` prefixes), or None."""
    for k, word in enumerate(words):
        value = word.value or ""
        if posixpath.basename(value) in ("pytest", "py.test"):
            return k + 1
        if value == "pytest" and k >= 1 and words[k - 1].value == "-m":
            return k + 1
        if "=" in value.split("/")[0] or value in ("-m", "exec", "env") or posixpath.basename(value).startswith(
                "python"):
            continue
        return None
    return None


def _words(text: str) -> list[Word] | None:
    try:
        return [w for command in simple_commands(lex(text)) for w in command]
    except ShellSyntaxError:
        return None


def addopts_edits(text: Text, words: Sequence[Word]) -> list[Edit]:
    """Edits removing Celery's plugin from ``words`` (lexed from ``text``), with the blanks before
    each removed run (or after it, at the start)."""
    removed = set(plugin_words([w.value for w in words]))
    return removal_edits(text, words, removed) if removed else []


def ini_addopts(source: str, sections: frozenset[str], options: Options) -> Result:
    """``addopts`` in the given sections of an INI file (pytest.ini, tox.ini, setup.cfg), with its
    indented continuation lines. A key left with nothing is removed, lines and all."""
    if CELERY_PYTEST_PLUGIN not in source or not options.enabled(CODE):
        return [], []
    edits: list[Edit] = []
    notes: list[Note] = []
    lines = source.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    section = ""
    k = 0
    while k < len(lines):
        line = lines[k]
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        key, eq, value = line.partition("=")
        if section not in sections or not eq or line[:1] in (" ", "\t") or key.strip() != "addopts":
            k += 1
            continue
        # The value: the rest of this line, then every indented (or blank) line after it.
        pieces = [Text.at(value, starts[k] + len(key) + 1)]
        last = k
        j = k + 1
        while j < len(lines) and (lines[j][:1] in (" ", "\t") or not lines[j].strip()):
            if lines[j].strip():
                pieces.append(Text.at(lines[j], starts[j]))
                last = j
            j += 1
        piece_words = [_words(p.value) for p in pieces]
        if any(words is None for words in piece_words):
            k = j
            continue
        all_words = [w for words in piece_words for w in words or ()]
        removed = {id(all_words[i]) for i in plugin_words([w.value for w in all_words])}
        if removed:
            notes.append(Note(starts[k], CODE, MESSAGE))
            if len(removed) == len(all_words):  # nothing else: the key goes
                edits.append(Edit(starts[k], min(starts[last + 1], len(source)), ""))
            else:
                edits.extend(_piece_edits(source, pieces, piece_words, removed))
        k = j
    return edits, notes


def _piece_edits(source: str, pieces: list[Text], piece_words: list, removed: set[int]) -> list[Edit]:
    """Removals line by line: a continuation line left with nothing goes whole."""
    edits: list[Edit] = []
    for n, (piece, words) in enumerate(zip(pieces, piece_words)):
        local = {i for i, w in enumerate(words) if id(w) in removed}
        if not local:
            continue
        if n and len(local) == len(words):
            line_end = source.find("\n", piece.positions[0])
            edits.append(Edit(piece.positions[0], len(source) if line_end < 0 else line_end + 1, ""))
        else:
            edits.extend(removal_edits(piece, words, local))
    return edits


def toml_addopts(table, source: str, notes: list[Note]) -> bool:
    """Celery's plugin removed from ``addopts`` in a tomlkit table (``[tool.pytest.ini_options]``:
    a string pytest splits, or a list of arguments). True when the table changed."""
    from tomlkit.items import String

    value = table.get("addopts")
    where = max(source.find("addopts"), 0)
    if isinstance(value, str) and isinstance(value, String):
        raw = value.as_string()
        delimiter = value.type.value
        inner = raw[len(delimiter):len(raw) - len(delimiter)]
        if "\\" in inner and not value.type.is_literal():
            return False
        pieces, offset = [], 0
        for line in inner.split("\n"):
            pieces.append(Text.at(line, offset))
            offset += len(line) + 1
        piece_words = [_words(piece.value) for piece in pieces]
        if any(words is None for words in piece_words):
            return False
        all_words = [w for words in piece_words for w in words or ()]
        removed = {id(all_words[i]) for i in plugin_words([w.value for w in all_words])}
        if not removed:
            return False
        edits = _piece_edits(inner, pieces, piece_words, removed)
        new_inner = apply_edits(inner, edits)
        new_value = new_inner[1:] if value.type.is_multiline() and new_inner.startswith("\n") else new_inner
        if not new_value.strip():
            del table["addopts"]
        else:
            table["addopts"] = String(value.type, new_value, new_inner, value.trivia)
        notes.append(Note(where, CODE, MESSAGE))
        return True
    if isinstance(value, list):
        removed = plugin_words([item if isinstance(item, str) else None for item in value])
        if not removed:
            return False
        for i in sorted(removed, reverse=True):
            del value[i]
        if not len(value):
            del table["addopts"]
        notes.append(Note(where, CODE, MESSAGE))
        return True
    return False


def pytest_ini(source: str, options: Options) -> Result:
    """``pytest.ini`` and ``tox.ini``: ``addopts`` in ``[pytest]``, and tox's ``commands`` (one
    command per line) in ``[testenv…]`` sections."""
    import configparser

    from ..model import SourceError
    from .commands import rewrite_shell

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(source)
    except configparser.Error as exc:
        raise SourceError(f"could not read the INI file ({str(exc).splitlines()[0]})") from None
    edits, notes = ini_addopts(source, frozenset({"pytest"}), options)
    section, in_commands, offset = "", False, 0
    for line in source.split("\n"):
        here, offset = offset, offset + len(line) + 1
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section, in_commands = stripped[1:-1].strip(), False
            continue
        if not section.startswith("testenv"):
            continue
        if line[:1] not in (" ", "\t"):
            key, eq, value = line.partition("=")
            in_commands = bool(eq) and key.strip() in ("commands", "commands_pre", "commands_post")
            if not in_commands:
                continue
            start = here + len(key) + 1
            body = value
        elif in_commands:
            start, body = here, line
        else:
            continue
        e, n = rewrite_shell(Text.at(body, start), foreground=False)  # tox runs them one after the other
        edits += e
        notes += n
    return edits, notes
