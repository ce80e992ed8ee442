"""Decoding and re-encoding keep a file's encoding, BOM and line endings; bad bytes are named."""

from __future__ import annotations

import pytest

from celery2cfq import source_io
from celery2cfq.model import SourceError
from celery2cfq.source_io import decode, encode


@pytest.mark.parametrize(
    "data",
    [
        b"x = 1\ny = 2\n",
        b"x = 1\r\ny = 2\r\n",
        b"x = 1\ry = 2\r",
        b"x = 1\r\ny = 2\n",  # mixed: passed through as is
        b"\xef\xbb\xbfx = '\xc3\xa9'\n",
        "# -*- coding: latin-1 -*-\nx = 'é'\n".encode("latin-1"),
        "#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nx = '€'\n".encode("cp1252"),
        b"",
        b"no newline at end",
    ],
)
def test_round_trip_is_byte_identical(data: bytes):
    decoded = decode(data)
    assert encode(decoded.text, decoded) == data


def test_fixers_see_only_lf_and_get_crlf_back():
    decoded = decode(b"a = 1\r\nb = 2\r\n")
    assert decoded.text == "a = 1\nb = 2\n" and decoded.newline == "\r\n"
    assert encode("a = 1\nb = 2\nc = 3\n", decoded) == b"a = 1\r\nb = 2\r\nc = 3\r\n"


def test_mixed_line_endings_are_not_normalised():
    decoded = decode(b"a = 1\r\nb = 2\n")
    assert decoded.newline is None and decoded.text == "a = 1\r\nb = 2\n"


def test_bom_is_kept():
    decoded = decode(b"\xef\xbb\xbfa = 1\n")
    assert decoded.text == "a = 1\n" and decoded.encoding == "utf-8-sig"
    assert encode("b = 2\n", decoded) == b"\xef\xbb\xbfb = 2\n"


def test_invalid_utf8_names_the_line():
    with pytest.raises(SourceError, match=r"^line 3: bytes that are not valid UTF-8"):
        decode(b"a = 1\nb = 2\nc = '\xff'\n")


def test_bytes_invalid_in_declared_encoding_name_it():
    with pytest.raises(SourceError, match=r"line 2: bytes that are not valid ascii"):
        decode(b"# coding: ascii\nx = '\xe9'\n")


def test_unknown_encoding_declaration():
    with pytest.raises(SourceError, match=r"^line 1: unknown encoding.*klingon"):
        decode(b"# -*- coding: klingon -*-\nx = 1\n")


def test_binary_and_huge(monkeypatch):
    with pytest.raises(SourceError, match=r"binary \(NUL byte on line 1\)"):
        decode(b"\x7fELF\x00\x00")
    monkeypatch.setattr(source_io, "MAX_SOURCE_BYTES", 10)
    with pytest.raises(SourceError, match=r"too large to migrate \(11 bytes; the limit is 10\)"):
        decode(b"x = 1234567")


def test_result_that_the_encoding_cannot_hold_is_an_error():
    decoded = decode("# coding: latin-1\nx = 1\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"line 2: .*'€'.*cannot encode"):
        encode("# coding: latin-1\nx = '€'\n", decoded)
