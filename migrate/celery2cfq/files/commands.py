"""Celery command lines inside shell text and inside word lists, rewritten as exact edits.

Shell text (a Procfile line, a script, a ``RUN``/``CMD`` shell form, a YAML ``command:`` string) is
lexed with :mod:`.shell`; each simple command that runs Celery gets a :class:`~.celery_cli.Plan`,
which becomes edits on the words' spans: a replaced word is re-quoted, a removed word takes the
blanks (and ``\\``-newline continuation) before it, and ``-A`` moved in front of the sub-command
keeps its own spelling. ``sh -c '…'`` is followed into its script when the script is quoted
without escapes.

Word lists (YAML sequences, Dockerfile exec form) give each word as a separate item; the format's
:class:`WordList` says how to replace, remove and insert items in its syntax.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .celery_cli import SHELLS, Arg, Plan, find_program, plan_command, subcommand_of
from .edits import Edit, Note, Text
from .pytest_options import CODE as PYTEST_CODE
from .pytest_options import MESSAGE as PYTEST_MESSAGE
from .pytest_options import addopts_edits, is_pytest_command
from .removal import removal_edits
from .shell import ShellSyntaxError, Word, lex, quote, simple_commands, skip_expansion

__all__ = ["ListItem", "WordList", "ChainedWordList", "rewrite_shell", "rewrite_word_list", "rewrite_program_only",
           "shell_edits", "programs_in", "celery_subcommands"]

#: A ``-c`` script nested deeper than this is left alone (``sh -c "sh -c '…'"``).
_MAX_DEPTH = 3
#: Programs that run ``-c SCRIPT`` with a shell as another user.
_RUN_AS = frozenset({"su", "runuser"})


def rewrite_shell(text: Text, *, depth: int = 0, program_variables: frozenset[str] = frozenset(),
                  foreground: bool = True, percent_doubled: bool = False) -> tuple[list[Edit], list[Note]]:
    """Edits and findings for every Celery command in ``text``. Text that is not shell (an
    unterminated quote) gives one CFQ609 finding and no edits. ``program_variables``: spellings of
    variables that hold the celery program (``$(CELERY)``), rewritten where they are set.
    ``foreground``, ``percent_doubled``: see :func:`~.celery_cli.plan_command` (False for scripts and
    Makefiles; True for systemd units and supervisor programs)."""
    if "celery" not in text.value.lower() and not any(v in text.value for v in program_variables):
        return [], []
    try:
        tokens = lex(text.value, percent_parens=percent_doubled)
    except ShellSyntaxError as exc:
        return [], [Note(text.after(exc.offset + 1) - 1 if text.value else text.after(0), "CFQ609",
                         f"could not read this as a shell command ({exc}); any Celery command in it is left as it is")]
    edits: list[Edit] = []
    notes: list[Note] = []
    for words in simple_commands(tokens):
        args = [Arg(w.value, w.prefix, w.raw) for w in words]
        programs = find_program(args, program_variables)
        if programs:
            plan = plan_command(args, programs[0], foreground=foreground, percent_doubled=percent_doubled)
            edits.extend(shell_edits(text, words, plan))
            notes.extend(Note(text.after(words[i].start + 1) - 1, code, message) for i, code, message in plan.findings)
            continue
        if is_pytest_command(words) is not None:
            pytest_edits = addopts_edits(text, words)
            edits.extend(pytest_edits)
            if pytest_edits:
                notes.append(Note(text.after(words[0].start + 1) - 1, PYTEST_CODE, PYTEST_MESSAGE))
            continue
        script = _shell_script_word(words)
        if script is not None and depth < _MAX_DEPTH:
            inner = _quoted_inside(text, script)
            if inner is not None:
                more_edits, more_notes = rewrite_shell(inner, depth=depth + 1, program_variables=program_variables,
                                                       foreground=foreground, percent_doubled=percent_doubled)
                edits.extend(more_edits)
                notes.extend(more_notes)
            elif "celery" in (script.value or script.raw).lower():
                notes.append(Note(text.after(script.start + 1) - 1, "CFQ609",
                                  "a Celery command inside a string with escapes is left as it is; rewrite it by hand"))
        notes.extend(Note(text.after(word.start + 1) - 1, "CFQ609", "a Celery command inside a command substitution "
                          "($(…) or `…`) is left as it is; rewrite it by hand")
                     for word in words if word.value is None and _substitutes_celery(word.raw))
    return edits, notes


def _substitutes_celery(raw: str) -> bool:
    """Whether a word's ``$(…)`` or backquoted part runs a Celery command line."""
    for opener in ("$(", "`"):
        at = raw.find(opener)
        if at < 0 or "celery" not in raw[at:].lower():
            continue
        try:
            inner = raw[at + len(opener):skip_expansion(raw, at) - 1]
            commands = simple_commands(lex(inner))
        except ShellSyntaxError:
            continue
        if any(find_program([Arg(w.value, w.prefix, w.raw) for w in command]) for command in commands):
            return True
    return False


def celery_subcommands(text: Text, *, depth: int = 0) -> set[str | None]:
    """The sub-commands of the Celery command lines in ``text``, ``sh -c`` scripts included (None for
    one only known at run time)."""
    try:
        commands = simple_commands(lex(text.value))
    except ShellSyntaxError:
        return set()
    found: set[str | None] = set()
    for words in commands:
        args = [Arg(w.value, w.prefix, w.raw) for w in words]
        programs = find_program(args)
        if programs:
            found.add(subcommand_of(args, programs[0]))
            continue
        script = _shell_script_word(words)
        inner = _quoted_inside(text, script) if script is not None and depth < _MAX_DEPTH else None
        if inner is not None:
            found |= celery_subcommands(inner, depth=depth + 1)
    return found


def programs_in(text: str, program_variables: frozenset[str]) -> set[str]:
    """Which of ``program_variables`` start a Celery command line somewhere in ``text``."""
    try:
        commands = simple_commands(lex(text))
    except ShellSyntaxError:
        return set()
    used = set()
    for words in commands:
        args = [Arg(w.value, w.prefix, w.raw) for w in words]
        used.update(args[i].raw.strip('"') for i in find_program(args, program_variables))
    return used & program_variables


def _shell_script_word(words: Sequence[Word]) -> Word | None:
    """The script of ``sh -c SCRIPT`` (also ``exec bash -lc SCRIPT``, ``su [-m] [USER] -c SCRIPT``)."""
    for k, word in enumerate(words[:-1]):
        if word.value is not None and posixpath.basename(word.value) in _RUN_AS:  # options and the user come first
            return next((words[j + 1] for j in range(k + 1, len(words) - 1)
                         if words[j].value in ("-c", "--command")), None)
        if word.value is None or posixpath.basename(word.value) not in SHELLS:
            continue
        for j in range(k + 1, len(words) - 1):
            flag = words[j].value or ""
            if flag.startswith("-") and not flag.startswith("--") and flag.endswith("c"):
                return words[j + 1]
            if not flag.startswith("-"):
                break
    return None


def _quoted_inside(text: Text, word: Word) -> Text | None:
    raw = word.raw
    if len(raw) >= 2 and raw[0] == raw[-1] == "'" and raw.count("'") == 2:
        return text.sub(word.start + 1, word.end - 1)
    if len(raw) >= 2 and raw[0] == raw[-1] == '"' and raw.count('"') == 2 and "\\" not in raw:
        return text.sub(word.start + 1, word.end - 1)
    return None


def shell_edits(text: Text, words: Sequence[Word], plan: Plan) -> list[Edit]:
    edits = []
    for i, new in plan.replace.items():
        edits.append(Edit(*text.span(words[i].start, words[i].end), quote(new)))
    for i, (old, new) in plan.rename.items():
        word = words[i]
        if word.raw.startswith(old):
            edits.append(Edit(*text.span(word.start, word.start + len(old)), new))
        elif word.value is not None:
            edits.append(Edit(*text.span(word.start, word.end), quote(new + word.value[len(old):])))
    edits.extend(removal_edits(text, words, plan.delete | set(plan.move_to_front)))
    if plan.move_to_front:
        program = words[plan.program]
        moved = " ".join(words[i].raw for i in plan.move_to_front)
        edits.append(Edit(text.after(program.end), text.after(program.end), " " + moved))
    return edits


# ---------------------------------------------------------------------------------------------
# Word lists

@dataclass(frozen=True)
class ListItem:
    value: str
    #: The file offset of the item (for findings).
    offset: int


class WordList(Protocol):
    items: Sequence[ListItem]

    def replace(self, index: int, value: str) -> Edit: ...

    def delete(self, index: int) -> Edit: ...

    def insert_after(self, index: int, values: Sequence[str]) -> Edit: ...

    def script(self, index: int) -> Text | None:
        """The item as shell text (for ``["sh", "-c", "…"]``), when it maps back exactly."""


def _arg(value: str) -> Arg:
    """A list item as a word: ``$VAR`` inside is expanded by compose or the shell later."""
    if "$" in value:
        return Arg(None, value.split("$", 1)[0], value)
    return Arg(value, value, value)


def rewrite_word_list(words: WordList) -> tuple[list[Edit], list[Note]]:
    items = words.items
    args = [_arg(item.value) for item in items]
    programs = find_program(args)
    if not programs:
        script_index = _list_script_index(items)
        if script_index is None:
            return [], []
        text = words.script(script_index)
        if text is None:
            if "celery" in items[script_index].value.lower():
                return [], [Note(items[script_index].offset, "CFQ609",
                                 "a Celery command inside a string with escapes is left as it is; rewrite it by hand")]
            return [], []
        return rewrite_shell(text, depth=1)
    plan = plan_command(args, programs[0])
    edits: list[Edit] = []
    for i, new in plan.replace.items():
        edits.append(words.replace(i, new))
    for i, (old, new) in plan.rename.items():
        edits.append(words.replace(i, new + items[i].value[len(old):]))
    for i in sorted(plan.delete | set(plan.move_to_front)):
        edits.append(words.delete(i))
    if plan.move_to_front:
        edits.append(words.insert_after(plan.program, [items[i].value for i in plan.move_to_front]))
    notes = [Note(items[i].offset, code, message) for i, code, message in plan.findings]
    return edits, notes


def _list_script_index(items: Sequence[ListItem]) -> int | None:
    """The item that is a shell script: ``["sh", "-c", SCRIPT]``, or a compose healthcheck's
    ``["CMD-SHELL", SCRIPT]``."""
    if len(items) == 2 and items[0].value == "CMD-SHELL":
        return 1
    for k, item in enumerate(items[:-1]):
        if posixpath.basename(item.value) in SHELLS:
            for j in range(k + 1, len(items) - 1):
                flag = items[j].value
                if flag.startswith("-") and not flag.startswith("--") and flag.endswith("c"):
                    return j + 1
                if not flag.startswith("-"):
                    break
    return None


class ChainedWordList:
    """Several word lists run as one command line (a Dockerfile's ``ENTRYPOINT`` and ``CMD``)."""

    def __init__(self, lists: Sequence[WordList]) -> None:
        self._where = [(words, k) for words in lists for k in range(len(words.items))]
        self.items = [item for words in lists for item in words.items]

    def replace(self, index: int, value: str) -> Edit:
        words, k = self._where[index]
        return words.replace(k, value)

    def delete(self, index: int) -> Edit:
        words, k = self._where[index]
        return words.delete(k)

    def insert_after(self, index: int, values: Sequence[str]) -> Edit:
        words, k = self._where[index]
        return words.insert_after(k, values)

    def script(self, index: int) -> Text | None:
        words, k = self._where[index]
        return words.script(k)


def rewrite_program_only(words: WordList) -> tuple[list[Edit], list[Note]]:
    """A list that is the celery program and ``-A APP`` only (``["celery", "-A", "proj"]``, an
    entrypoint whose sub-command comes later): the program word names cfq-shim."""
    values = [item.value for item in words.items]
    if values and posixpath.basename(values[0]) == "celery":
        program, rest = 0, values[1:]
    elif len(values) >= 3 and posixpath.basename(values[0]).startswith("python") and values[1:3] == ["-m", "celery"]:
        program, rest = 2, values[3:]
    else:
        return [], []
    i = 0
    while i < len(rest):  # only -A/--app (cfq-shim's one group option); anything else needs a look
        if rest[i] in ("-A", "--app") and i + 1 < len(rest):
            i += 2
        elif rest[i].startswith(("--app=", "-A")) and len(rest[i]) > 2:
            i += 1
        else:
            return [], []
    if program:
        return [words.replace(program, "cfq_shim")], []
    head = posixpath.dirname(values[0])
    return [words.replace(0, posixpath.join(head, "cfq-shim") if head else "cfq-shim")], []
