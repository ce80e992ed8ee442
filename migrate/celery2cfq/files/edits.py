"""Exact text edits on a file, and views of a part of it as a plain value.

Every non-Python rewrite is a list of :class:`Edit` spans on the file's text; everything outside
them stays byte-identical. A :class:`Text` is a value (a YAML scalar's content, a quoted shell
word's inside, a Dockerfile instruction's arguments) with the file position of each of its
characters, so a span found in the value maps back to the file exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Edit", "Note", "Text", "apply_edits", "line_and_column"]


@dataclass(frozen=True, order=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Note:
    """A finding at a file offset (turned into a line and column at the end)."""

    offset: int
    code: str
    message: str


@dataclass(frozen=True)
class Text:
    value: str
    #: positions[i] is the file offset of value[i]; one more entry for the end.
    positions: Sequence[int]

    @classmethod
    def at(cls, value: str, offset: int) -> Text:
        """``value`` as it appears verbatim at ``offset`` in the file."""
        return cls(value, range(offset, offset + len(value) + 1))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The file span of ``value[start:end]`` (``end > start``)."""
        return self.positions[start], self.positions[end - 1] + 1

    def after(self, index: int) -> int:
        """The file offset just after ``value[index - 1]``."""
        return self.positions[index - 1] + 1 if index else self.positions[0]

    def sub(self, start: int, end: int) -> Text:
        return Text(self.value[start:end], [self.positions[i] for i in range(start, end)] + [self.after(end)])


def apply_edits(source: str, edits: Iterable[Edit]) -> str:
    """``source`` with every edit made. Edits may not overlap (an insertion at a replaced span's
    end is fine)."""
    out: list[str] = []
    cursor = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < cursor:
            raise ValueError(f"overlapping edits at offset {edit.start}")
        out.append(source[cursor:edit.start])
        out.append(edit.text)
        cursor = edit.end
    out.append(source[cursor:])
    return "".join(out)


def line_and_column(source: str, offset: int) -> tuple[int, int]:
    """1-based line and 0-based column of ``offset``."""
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1)
