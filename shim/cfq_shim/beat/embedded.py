"""``cfq-shim worker -B``: a beat inside the worker process, in its own thread.

It is the same :class:`~cfq_shim.beat.service.Beat` as ``cfq-shim beat``, so ``-B`` on several workers
is safe: they share the lease (in the ``-s`` file or the result backend) and only one sends.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..signals import beat_embedded_init
from .service import Beat

__all__ = ["EmbeddedBeat"]

logger = logging.getLogger("cfq_shim.beat")


class EmbeddedBeat:
    """Runs a beat in a daemon thread until :meth:`stop` (which releases the lease)."""

    def __init__(self, beat: Beat) -> None:
        self.beat = beat
        self._thread = threading.Thread(target=self._run, name="cfq-shim-beat", daemon=True)

    def _run(self) -> None:
        try:
            self.beat.run()
        except Exception:  # a bug: log it; the worker keeps running tasks
            logger.exception("beat: the embedded beat stopped")

    def start(self, sender: Any = None) -> None:

        beat_embedded_init.send(sender=sender)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.beat.stop()
        self._thread.join(timeout)
        self.beat.file.close()
