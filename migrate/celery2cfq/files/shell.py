"""Shell words with their positions: the part of POSIX shell syntax deployment files use.

``shlex`` splits a line into values but forgets where each word was and what quoting it had; a
rewrite that must keep every other byte needs both. :func:`lex` follows the same POSIX rules as
``shlex.split(posix=True)`` (quotes, backslash escapes, ``#`` comments at a word's start) and adds
what shell files hold beyond one line: operators (``;``, ``&&``, ``|``, ``(`` …) that end a simple
command, newlines, ``\\``-newline continuations (whitespace inside a command), redirections with
their targets, here-documents (their bodies are skipped, not read as commands), and expansions
(``$VAR``, ``${…}``, ``$(…)``, backticks), which make a word's value unknown but keep its literal
prefix (``-Q$QUEUES`` is the ``-Q`` option with a value known only at run time).

:func:`simple_commands` groups the words into simple commands. Nothing here rewrites; it only says
where each word is, so the callers can replace exact spans.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

__all__ = ["ShellSyntaxError", "Word", "lex", "simple_commands", "quote", "skip_expansion"]

_OPERATOR_CHARS = ";&|()"
_REDIRECT_CHARS = "<>"
_BLANKS = " \t"


class ShellSyntaxError(ValueError):
    """Text the lexer cannot read (an unterminated quote or expansion); ``offset`` says where."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    raw: str
    #: The word after quote removal; None when it holds an expansion ($VAR, $(…), `…`).
    value: str | None
    #: The literal text before the first expansion ("-Q" for "-Q$QUEUES"); the value when there is none.
    prefix: str


@dataclass(frozen=True)
class _Operator:
    start: int
    end: int
    text: str


def quote(value: str) -> str:
    """``value`` as one shell word (unquoted when that is safe)."""
    return shlex.quote(value)


def lex(text: str, *, percent_parens: bool = False) -> list[Word | _Operator]:
    """Words and operators of ``text`` in order. Raises :class:`ShellSyntaxError`.
    ``percent_parens``: supervisor's ``%(name)s`` expansions (expanded before the command is split)
    are word characters, not a subshell's parentheses."""
    tokens: list[Word | _Operator] = []
    pending_heredocs: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    expect_heredoc_word: bool | None = None  # the strip-tabs flag of a "<<" waiting for its delimiter
    while i < n:
        c = text[i]
        if c in _BLANKS:
            i += 1
            continue
        if c == "\\" and text.startswith("\n", i + 1):
            i += 2
            continue
        if c == "\n":
            tokens.append(_Operator(i, i + 1, "\n"))
            i += 1
            if pending_heredocs:
                i = _skip_heredocs(text, i, pending_heredocs)
                pending_heredocs = []
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in _OPERATOR_CHARS:
            two = text[i : i + 2]
            op = two if two in (";;", "&&", "||", "|&", ";&", "&>") else c
            if op == "&>":
                tokens.append(_Operator(i, i + 2, "redirect"))
                expect_heredoc_word = None
            else:
                tokens.append(_Operator(i, i + len(op), op))
            i += len(op)
            continue
        if c in _REDIRECT_CHARS:
            j = i + 1
            while j < n and text[j] in "<>&|-":
                j += 1
            op = text[i:j]
            tokens.append(_Operator(i, j, "redirect"))
            if op.startswith("<<") and not op.startswith("<<<"):
                expect_heredoc_word = op.endswith("-")
            i = j
            continue
        word, i = _read_word(text, i, percent_parens)
        if expect_heredoc_word is not None:
            pending_heredocs.append(((word.value or word.raw).strip("'\""), expect_heredoc_word))
            expect_heredoc_word = None
        # "2>file": an all-digit word right before a redirection is its file descriptor.
        if word.raw.isdigit() and i < n and text[i] in _REDIRECT_CHARS:
            continue
        tokens.append(word)
    return tokens


def _skip_heredocs(text: str, i: int, heredocs: list[tuple[str, bool]]) -> int:
    for delimiter, strip_tabs in heredocs:
        while i < len(text):
            end = text.find("\n", i)
            line = text[i:] if end < 0 else text[i:end]
            i = len(text) if end < 0 else end + 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
    return i


def _read_word(text: str, start: int, percent_parens: bool = False) -> tuple[Word, int]:
    i, n = start, len(text)
    value: list[str] = []
    prefix: str | None = None
    while i < n:
        c = text[i]
        if percent_parens and text.startswith("%(", i) and (close := text.find(")", i)) > 0:
            end = close + 1
            value.append(text[i:end])
            i = end
            continue
        if c in _BLANKS or c == "\n" or c in _OPERATOR_CHARS or c in _REDIRECT_CHARS:
            break
        if c == "\\":
            if i + 1 >= n:
                value.append("\\")
                i += 1
            elif text[i + 1] == "\n":  # a continuation ends the word
                break
            else:
                value.append(text[i + 1])
                i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated single quote", i)
            value.append(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ShellSyntaxError("unterminated double quote", start)
                d = text[i]
                if d == '"':
                    i += 1
                    break
                if d == "\\" and i + 1 < n:
                    value.append(text[i + 1] if text[i + 1] in '$`"\\\n' else text[i : i + 2])
                    i += 2
                elif d in "$`" and _starts_expansion(text, i):
                    if prefix is None:
                        prefix = "".join(value)
                    i = skip_expansion(text, i)
                else:
                    value.append(d)
                    i += 1
        elif c in "$`" and _starts_expansion(text, i):
            if prefix is None:
                prefix = "".join(value)
            i = skip_expansion(text, i)
        else:
            value.append(c)
            i += 1
    literal = "".join(value)
    word = Word(start=start, end=i, raw=text[start:i], value=literal if prefix is None else None,
                prefix=literal if prefix is None else prefix)
    return word, i


def _starts_expansion(text: str, i: int) -> bool:
    if text[i] == "`":
        return True
    nxt = text[i + 1 : i + 2]
    return bool(nxt) and (nxt.isalnum() or nxt in "_{(@*#?$!-")


def skip_expansion(text: str, i: int) -> int:
    """The index just after the expansion that starts at ``i``."""
    n = len(text)
    if text[i] == "`":
        end = text.find("`", i + 1)
        if end < 0:
            raise ShellSyntaxError("unterminated backquote", i)
        return end + 1
    nxt = text[i + 1]
    if nxt == "$" and text.startswith("(", i + 2):  # make's and compose's $$(…): the shell's $(…), escaped
        return skip_expansion(text, i + 1)
    if nxt in "{(":
        close = "}" if nxt == "{" else ")"
        depth, j = 0, i + 1
        while j < n:
            d = text[j]
            if d == "\\":
                j += 2
                continue
            if d == "'" and close == ")":
                end = text.find("'", j + 1)
                if end < 0:
                    break
                j = end + 1
                continue
            if d == nxt:
                depth += 1
            elif d == close:
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise ShellSyntaxError(f"unterminated ${nxt}", i)
    j = i + 1
    if not (nxt.isalnum() or nxt == "_"):
        return j + 1  # $@, $*, $#, $?, $$, $!, $-
    if nxt.isdigit():
        return j + 1
    while j < n and (text[j].isalnum() or text[j] == "_"):
        j += 1
    return j


def simple_commands(tokens: list[Word | _Operator]) -> list[list[Word]]:
    """The words of each simple command, without redirections and their targets."""
    commands: list[list[Word]] = []
    current: list[Word] = []
    skip_next = False
    for token in tokens:
        if isinstance(token, _Operator):
            if token.text == "redirect":
                skip_next = True
                continue
            if current:
                commands.append(current)
            current = []
            continue
        if skip_next:
            skip_next = False
            continue
        current.append(token)
    if current:
        commands.append(current)
    return commands
