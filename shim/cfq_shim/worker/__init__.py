"""The worker: ``cfq-shim -A proj worker`` and the in-process :class:`Worker` (see consumer.py)."""

from .consumer import POOLS, Worker

__all__ = ["Worker", "POOLS"]
