"""Which dead letters a command acts on: ``--queue``, ``--task``, ``--id``, ``--reason``, ``--since``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ..deadletter import REASONS
from .entries import DeadLetterEntry

__all__ = ["Selection", "parse_since"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``30m``, ``2h``, ``1d`` (ago) or an ISO 8601 time (UTC when it names no zone).

    Raises ValueError with the accepted forms."""
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r} is neither a duration (30m, 2h, 1d, 1w) nor an ISO time (2026-12-04T10:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Selection:
    """A filter over dead letters; empty fields match everything."""

    task: str | None = None
    #: Task ids or message ids.
    ids: frozenset[str] = field(default_factory=frozenset)
    reason: str | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"unknown reason {self.reason!r}; one of: {', '.join(sorted(REASONS))}")

    def matches(self, entry: DeadLetterEntry) -> bool:
        if self.task is not None and entry.task != self.task:
            return False
        if self.ids and entry.task_id not in self.ids and entry.message_id not in self.ids:
            return False
        if self.reason is not None and entry.record.reason != self.reason:
            return False
        if self.since is not None:
            moment = entry.dead_lettered_at
            if moment is None or moment < self.since:
                return False
        return True
