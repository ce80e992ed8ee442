"""Shutdown requests: warm first, cold on the second signal (as Celery's worker).

=========  ==================================================================================
state      what the consumer loop does
=========  ==================================================================================
running    pulls, runs, settles
warm       stops pulling, hands back the leased messages that have not started (retry, delay 0),
           lets the running tasks finish and settles them, then exits 0
cold       stops at once: nothing more is settled, prefork children are killed, exit code 1;
           the leases expire and the messages are delivered again
=========  ==================================================================================

SIGTERM and SIGINT step running -> warm -> cold; SIGQUIT goes straight to cold. The handlers only set
flags (as Huey's do) and the loop acts on them, with one exception: a cold request while the ``solo``
pool runs a task in the main thread raises :class:`ColdShutdown` (a SystemExit) there, since nothing else could stop that task.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable

__all__ = ["Shutdown", "ColdShutdown"]

logger = logging.getLogger("cfq_shim.worker")


class ColdShutdown(SystemExit):
    """Raised in the main thread to stop a task the ``solo`` pool runs there (cold shutdown)."""


class Shutdown:
    def __init__(self) -> None:
        self._warm = threading.Event()
        self._cold = threading.Event()

    @property
    def warm(self) -> bool:
        return self._warm.is_set()

    @property
    def cold(self) -> bool:
        return self._cold.is_set()

    @property
    def requested(self) -> bool:
        return self._warm.is_set() or self._cold.is_set()

    def request(self, *, cold: bool = False) -> None:
        """Ask for a warm shutdown, or a cold one when ``cold`` or when warm was already asked."""
        if cold or self._warm.is_set():
            self._cold.set()
        self._warm.set()

    def install_handlers(self, worker: Any) -> Callable[[], None]:
        """Install SIGTERM/SIGINT/SIGQUIT handlers; return a function that restores the previous ones."""

        def on_signal(signum: int, frame: Any) -> None:
            cold = signum == getattr(signal, "SIGQUIT", None) or self.warm
            self.request(cold=cold)
            if cold and worker.pool_name == "solo" and frame is not None and _in_task(frame):
                raise ColdShutdown(1)

        previous: dict[int, Any] = {}
        for name in ("SIGTERM", "SIGINT", "SIGQUIT"):
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.signal(signum, on_signal)

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore


def _in_task(frame: Any) -> bool:
    """True when the interrupted frame is below the code that runs a task (not the loop waiting)."""
    while frame is not None:
        if frame.f_code.co_name == "_run_job":
            return True
        frame = frame.f_back
    return False
