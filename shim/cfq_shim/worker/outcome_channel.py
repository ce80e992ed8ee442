"""How a prefork child sends its outcomes back: written at once, read in batches.

Two pipes join a child to its slot (the thread of the worker that drives it):

- the **control** pipe (a duplex :class:`multiprocessing.connection.Connection`) carries hand-offs down and
  a few small records up: ``wake``, ``start`` (a task with a hard time limit begins) and ``end`` (the
  hand-off is over). The slot sleeps on this pipe only.
- the **data** pipe carries one frame per finished task, child to worker. The child writes each frame
  the moment its task returns, so what a child finished is in the kernel's pipe buffer, and is read, even
  if a later task kills the child (a crash, ``os._exit``, the hard time limit's SIGKILL). But writing
  there does not wake the slot.

The child wakes the slot (:meth:`OutcomeWriter.wake`) only when the oldest unread frame is
:data:`WAKE_AFTER_SECONDS` old, when the unread frames approach the pipe's capacity, or with the
``start``/``end`` records. The slot then reads every frame in the pipe with one ``read`` call
(:meth:`OutcomeReader.drain`). A hand-off of fast tasks thus costs the worker one wake-up, not one per
task: on a busy machine each wake-up of a thread or process is what costs most.

Frames are ``4-byte big-endian length + pickle``.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import time
from typing import Any, Callable

__all__ = ["OutcomeWriter", "OutcomeReader", "WAKE_AFTER_SECONDS"]

#: The longest a finished task's outcome waits in the pipe before the child wakes the worker to read it.
WAKE_AFTER_SECONDS = 0.002
#: Unread bytes after which the child wakes the worker before writing more (Linux pipes hold 64 KiB).
_WAKE_AT_BYTES = 32 * 1024
_HEADER = struct.Struct("!I")
#: The most one read takes from the data pipe.
_READ_BYTES = 1 << 20


class OutcomeWriter:
    """The child's end: :meth:`put` a record on the data pipe, :meth:`wake` the slot on the control pipe."""

    def __init__(self, data_fd: int, control: Any) -> None:
        self._fd = data_fd
        self._control = control
        self._unread_bytes = 0
        self._oldest_unread: float | None = None

    def put(self, record: Any) -> None:
        payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _HEADER.pack(len(payload)) + payload
        if self._unread_bytes + len(frame) > _WAKE_AT_BYTES:
            # The worker must be reading before a write can fill the pipe and block this child.
            self.wake()
        view = memoryview(frame)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._unread_bytes += len(frame)
        if self._oldest_unread is None:
            self._oldest_unread = time.monotonic()
        if self._unread_bytes >= _WAKE_AT_BYTES:
            self.wake()

    def wake_if_due(self) -> None:
        """Wake the slot when the oldest unread outcome has waited :data:`WAKE_AFTER_SECONDS`."""
        oldest = self._oldest_unread
        if oldest is not None and time.monotonic() - oldest >= WAKE_AFTER_SECONDS:
            self.wake()

    def wake(self, record: Any = ("wake",)) -> None:
        """Send ``record`` on the control pipe; the slot then reads every frame written so far."""
        self._control.send(record)
        self._unread_bytes = 0
        self._oldest_unread = None


class OutcomeReader:
    """The slot's end: :meth:`drain` returns every complete record in the data pipe."""

    def __init__(self, data_fd: int) -> None:
        self._fd = data_fd
        os.set_blocking(data_fd, False)
        self._buffer = bytearray()

    def drain(self, *, alive: Callable[[], bool], poll_seconds: float = 0.5) -> list[Any]:
        """Read what the pipe holds and return the complete records in order.

        A frame that is still being written (the child is alive and writing it) is waited for, so that
        a child blocked on a full pipe is never left waiting; once the child is gone, a partial frame
        is dropped."""
        while True:
            self._read_available()
            if not self._buffer or self._complete_prefix() == len(self._buffer):
                break
            if not alive():
                self._read_available()
                break
            select.select([self._fd], [], [], poll_seconds)
        return self._take_complete()

    def _read_available(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, _READ_BYTES)
            except BlockingIOError:
                return
            except OSError:
                return
            if not chunk:
                return
            self._buffer += chunk
            if len(chunk) < _READ_BYTES:
                return

    def _complete_prefix(self) -> int:
        """The length of the buffer's leading complete frames."""
        at, size = 0, len(self._buffer)
        while at + _HEADER.size <= size:
            (length,) = _HEADER.unpack_from(self._buffer, at)
            if at + _HEADER.size + length > size:
                break
            at += _HEADER.size + length
        return at

    def _take_complete(self) -> list[Any]:
        records = []
        at, end = 0, self._complete_prefix()
        view = memoryview(self._buffer)
        try:
            while at < end:
                (length,) = _HEADER.unpack_from(view, at)
                at += _HEADER.size
                records.append(pickle.loads(view[at:at + length]))
                at += length
        finally:
            view.release()
        del self._buffer[:end]
        return records

    def discard(self) -> None:
        """Forget a partial frame (its child is gone)."""
        self._buffer.clear()
