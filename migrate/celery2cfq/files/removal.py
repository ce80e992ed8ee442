"""Removing words from shell text: a removed run of words takes the blanks (and ``\\``-newline
continuations) around it, so what stays reads as if it had been written that way."""

from __future__ import annotations

from collections.abc import Sequence

from .edits import Edit, Text
from .shell import Word

__all__ = ["removal_edits"]


def _blank_start(value: str, index: int) -> int:
    """Where the blanks (and continuations) just before ``index`` start."""
    i = index
    while i > 0:
        if value[i - 1] in " \t":
            i -= 1
        elif value[i - 1] == "\n" and i >= 2 and value[i - 2] == "\\":
            i -= 2
        else:
            break
    return i


def _is_gap(value: str) -> bool:
    """Only blanks and continuations (nothing like a redirection between two words)."""
    return value.replace("\\\n", "").strip(" \t") == ""


def _breaks_line(text: Text, start: int, end: int) -> bool:
    """Whether the gap holds a line break: a continuation, or a YAML fold (a space in the value
    that stands for a line break and indentation in the file, so the positions jump)."""
    return "\n" in text.value[start:end] or text.positions[end] - text.positions[start] != end - start


def removal_edits(text: Text, words: Sequence[Word], removed: set[int]) -> list[Edit]:
    """Deletions for the removed words. Each run of adjacent removed words, with the gaps around
    it, shrinks to one gap: the first that holds a line break, so a ``\\``-newline layout stays
    (``-Q x \\ <removed> \\ -l info`` keeps one continuation), else the first."""
    value = text.value
    edits: list[Edit] = []
    i = 0
    while i < len(words):
        if i not in removed:
            i += 1
            continue
        j = i
        while j + 1 < len(words) and j + 1 in removed and _is_gap(value[words[j].end:words[j + 1].start]):
            j += 1
        gaps = [(words[k - 1].end, words[k].start) for k in range(max(i, 1), j + 2) if k < len(words)]
        gaps = [(a, b) for a, b in gaps if _is_gap(value[a:b])]
        left = words[i - 1].end if i and gaps and gaps[0][0] == words[i - 1].end else _blank_start(value, words[i].start)
        right_adjacent = j + 1 < len(words) and gaps and gaps[-1][1] == words[j + 1].start
        # A span that ends where the next word starts ends at that word's file position (after the
        # indentation a fold or continuation put before it).
        following = text.positions[words[j + 1].start] if j + 1 < len(words) else None
        if right_adjacent and i == 0:  # the first words go: what follows starts where they started
            edits.append(Edit(text.positions[words[0].start], following, ""))
        elif right_adjacent:
            keep = next((g for g in gaps if _breaks_line(text, *g)), gaps[0])
            if keep[0] > left:
                edits.append(Edit(*text.span(left, keep[0]), ""))
            if words[j + 1].start > keep[1]:
                edits.append(Edit(text.positions[keep[1]], following, ""))
        else:
            edits.append(Edit(*text.span(left, words[j].end), ""))
        i = j + 1
    return edits
