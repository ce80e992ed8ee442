"""Atomic file replacement: an interrupted run leaves every file either old or new, never half-written.

The new bytes go to a temporary file in the same directory (so the rename stays on one file system),
get the old file's permission bits, are flushed to disk, and then replace the old file with
``os.replace``, which is atomic on POSIX and Windows. Any failure removes the temporary file and
leaves the original untouched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["WriteError", "replace_file"]


class WriteError(Exception):
    """The file could not be replaced; the original is unchanged."""


def replace_file(path: Path, new_bytes: bytes, *, expected_old_bytes: bytes) -> None:
    """Replace ``path`` with ``new_bytes`` atomically, keeping its mode.

    ``expected_old_bytes`` is what the file held when it was read; if it changed since (an editor
    saved it meanwhile), nothing is written, so no one's edit is lost.
    """
    target = Path(os.path.realpath(path))  # write through symlinks, do not replace the link
    try:
        current = target.read_bytes()
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError as exc:
        raise WriteError(f"could not read the file again before writing: {exc.strerror}") from None
    if current != expected_old_bytes:
        raise WriteError("the file changed on disk while celery2cfq ran; it was not written")
    try:
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".c2c-tmp")
    except OSError as exc:
        raise WriteError(f"could not create a temporary file next to it: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(new_bytes)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        _rename(temp_name, target)
    except BaseException as exc:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(f"could not write: {exc.strerror or exc}") from None
        raise


def _rename(temp_name: str, target: Path) -> None:
    """The atomic step, on its own so tests can interrupt a write just before it."""
    os.replace(temp_name, target)
