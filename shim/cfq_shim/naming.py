"""Queue names: the one place that says how a Celery queue name maps to a transport queue name."""

from __future__ import annotations

__all__ = ["DEFAULT_QUEUE", "dead_letter_queue_name", "REPLAY_HEADER"]

#: Celery's default queue name (``task_default_queue``).
DEFAULT_QUEUE = "celery"

#: Suffix of a queue's dead-letter queue.
DEAD_LETTER_SUFFIX = "-dlq"


def dead_letter_queue_name(queue: str) -> str:
    """The dead-letter queue of ``queue``: ``celery`` -> ``celery-dlq``."""
    return f"{queue}{DEAD_LETTER_SUFFIX}"


#: Envelope header a replay of a dead letter carries (a new value per replay), so the worker's duplicate
#: detection, which remembers failed task ids too, lets the replayed copy run.
REPLAY_HEADER = "cfq_replay"
