"""Bytes in, text for the fixers, and the same kind of bytes out.

A file keeps what it was: its declared encoding (PEP 263 cookie, UTF-8 by default), its byte order
mark and its line endings. The fixers only ever see ``\\n`` line endings; :func:`encode` puts the
file's own ending back. A file whose line endings are mixed is passed through unchanged, so that no
untouched line changes its bytes.

Input the codemod refuses is reported with :class:`~celery2cfq.model.SourceError`, naming the cause
and, where there is one, the line: binary data, a file over :data:`MAX_SOURCE_BYTES`, an unknown
encoding declaration, or bytes that are not in the declared encoding.
"""

from __future__ import annotations

import codecs
import io
import tokenize
from dataclasses import dataclass

from .model import SourceError

__all__ = ["MAX_SOURCE_BYTES", "DecodedSource", "check_size", "decode", "encode"]

#: Larger files are reported as "huge" and skipped. Python sources this large are generated data;
#: at LibCST's ~20k lines per CPU-second, one would hold a worker for many seconds.
MAX_SOURCE_BYTES = 4 * 1024 * 1024

_NEWLINES = ("\r\n", "\r", "\n")


@dataclass(frozen=True)
class DecodedSource:
    """Text for the fixers plus what is needed to turn a changed text back into the file's bytes."""

    text: str
    #: The codec that reads and writes the file; ``utf-8-sig`` when it starts with a BOM.
    encoding: str
    #: The file's line ending ("\\n", "\\r\\n" or "\\r"); ``None`` when it mixes several, in which
    #: case ``text`` holds them as they are.
    newline: str | None


def check_size(size_bytes: int) -> None:
    """Refuse a file over the size limit before reading it."""
    if size_bytes > MAX_SOURCE_BYTES:
        raise SourceError(
            f"file is too large to migrate ({size_bytes:,} bytes; the limit is {MAX_SOURCE_BYTES:,})"
        )


def decode(data: bytes) -> DecodedSource:
    """Decode a Python source file the way the interpreter would, or raise :class:`SourceError`."""
    check_size(len(data))
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise SourceError(f"file looks binary (NUL byte on line {line})")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # detect_encoding says "unknown encoding: X" or "encoding problem: X with BOM".
        raise SourceError(f"line {_cookie_line(data)}: {exc}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            f"line {line}: bytes that are not valid {_display_name(encoding)} "
            f"(declare the file's encoding with a '# -*- coding: ... -*-' line)"
        ) from None
    newline = _line_ending(text)
    if newline is not None and newline != "\n":
        text = text.replace(newline, "\n")
    return DecodedSource(text=text, encoding=encoding, newline=newline)


def encode(text: str, original: DecodedSource) -> bytes:
    """The bytes of ``text`` in the original file's encoding, BOM and line ending."""
    if original.newline is not None and original.newline != "\n":
        text = text.replace("\n", original.newline)
    try:
        return text.encode(original.encoding)
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise SourceError(
            f"line {line}: the rewritten code holds {text[exc.start]!r}, which "
            f"{_display_name(original.encoding)} cannot encode"
        ) from None


def _line_ending(text: str) -> str | None:
    """The one line ending ``text`` uses ("\\n" when it has none), or None when it mixes them."""
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    used = [ending for ending, count in zip(_NEWLINES, (crlf, cr, lf)) if count]
    if not used:
        return "\n"
    return used[0] if len(used) == 1 else None


def _cookie_line(data: bytes) -> int:
    """The line (1 or 2) that carries the encoding declaration, for error messages."""
    first, _, rest = data.partition(b"\n")
    return 1 if b"coding" in first or not rest else 2


def _display_name(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "UTF-8" if name in ("utf-8", "utf-8-sig") else name
