"""Celery's ``rate_limit``: per worker, per task type, a token bucket each task draws one token from.

``rate_limit="10/s"``, ``"100/m"``, ``"1000/h"``, or a number (per second); ``task_default_rate_limit``
fills the tasks that set none; ``worker_disable_rate_limits=True`` turns every limit off. As in Celery the
limit is per worker instance (two workers may each run ``10/s``), and a bucket holds one token, so a
limited task type never runs in bursts.

**A task waiting for its token holds no execution slot.** The consumer loop keeps it aside (as Celery's
consumer does with its timer) and hands it to the pool when its token is due, so the other task types the
worker has leased keep running. Each waiting task reserves its token at once, so tokens are handed out in
arrival order, at the bucket's rate and never faster.

**It never holds a lease past its end.** Cloudflare cannot extend a lease, and the lease of a pull cannot
know which task types the pull will bring, so leases are not lengthened for rate limits. A task waits for
its token only if the token comes early enough for the task to run within its lease: before
``lease end - (its time limit, else the recent run time) - LEASE_MARGIN_MS``. When the token would come
later, the message is sent again with a delay of the time until a token (the same body, and the leased
copy acked), like an ETA hop: not a transport retry, which would count as a delivery against the
queue's ``max_retries`` and raise ``request.retries``. A waiting task still counts among the messages
the worker has leased (as in Celery, where it counts against the prefetch), so a worker busy waiting on
tokens pulls less.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

__all__ = ["parse_rate", "Reservation", "TokenBucket", "RateLimiter"]

Clock = Callable[[], float]
T = TypeVar("T")

#: Celery's rate units: per second, minute, hour.
_SECONDS_PER_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(value: Any) -> float | None:
    """Tokens per second for a Celery rate: ``"10/s"``, ``"100/m"``, ``"1000/h"``, ``"5"`` or ``5`` (per
    second). None, ``""`` and zero mean no limit. Anything else raises ValueError naming the value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"invalid rate limit {value!r}: use a number or 'N/s', 'N/m', 'N/h'")
    if isinstance(value, (int, float)):
        per_second = float(value)
    elif isinstance(value, str):
        amount, _, unit = value.strip().partition("/")
        unit = unit.strip() or "s"
        if unit not in _SECONDS_PER_UNIT:
            raise ValueError(f"invalid rate limit {value!r}: the unit must be s, m or h (as in '10/m')")
        try:
            per_second = float(amount) / _SECONDS_PER_UNIT[unit]
        except ValueError:
            raise ValueError(f"invalid rate limit {value!r}: use a number or 'N/s', 'N/m', 'N/h'") from None
    else:
        raise ValueError(f"invalid rate limit {value!r}: use a number or 'N/s', 'N/m', 'N/h'")
    if math.isnan(per_second) or math.isinf(per_second):
        raise ValueError(f"invalid rate limit {value!r}: use a finite number")
    return per_second if per_second > 0 else None


@dataclass(frozen=True)
class Reservation:
    """The answer of :meth:`TokenBucket.reserve`."""

    #: True: a token is the caller's, usable after ``wait_seconds``. False: nothing was taken.
    granted: bool
    #: Seconds until the token (granted), or until a token would be free (refused).
    wait_seconds: float


class TokenBucket:
    """A thread-safe token bucket filled at ``rate_per_second`` up to ``capacity`` tokens (full at start).

    Tokens can be reserved ahead: the bucket then runs into debt, and the next reservation waits until
    the debt is paid off at the fill rate. ``granted`` counts the tokens handed out.
    """

    def __init__(self, rate_per_second: float, *, capacity: float = 1.0, clock: Clock = time.monotonic) -> None:
        if rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive (got {rate_per_second})")
        if capacity < 1:
            raise ValueError(f"capacity must be at least one token (got {capacity})")
        self.rate_per_second = rate_per_second
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = capacity
        self._filled_at = clock()
        self.granted = 0

    def reserve(self, *, max_wait_seconds: float = math.inf) -> Reservation:
        """Take the next token if it is free within ``max_wait_seconds``; else take nothing and say how
        long until one would be free."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._filled_at)
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_second)
            self._filled_at = now
            left = self._tokens - 1
            wait = 0.0 if left >= 0 else -left / self.rate_per_second
            if wait > max(0.0, max_wait_seconds):
                return Reservation(granted=False, wait_seconds=wait)
            self._tokens = left
            self.granted += 1
            return Reservation(granted=True, wait_seconds=wait)

    def try_acquire(self) -> bool:
        """Take a token only if one is free now."""
        return self.reserve(max_wait_seconds=0.0).granted


class RateLimiter(Generic[T]):
    """The worker's buckets (one per rate-limited task name) and the items waiting for their tokens."""

    def __init__(self, *, clock: Clock = time.monotonic, disabled: bool = False) -> None:
        self.clock = clock
        self.disabled = disabled
        self._buckets: dict[str, TokenBucket | None] = {}
        self._lock = threading.Lock()
        self._held: list[tuple[float, int, T]] = []
        self._order = itertools.count()

    def bucket_for(self, task: Any) -> TokenBucket | None:
        """The bucket of ``task``'s type, or None when it has no rate limit (or limits are disabled).
        Raises ValueError for a rate limit that cannot be read."""
        if self.disabled:
            return None
        name = task.name
        with self._lock:
            if name not in self._buckets:
                try:
                    rate = parse_rate(getattr(task, "rate_limit", None))
                except ValueError as exc:
                    raise ValueError(f"task {name!r}: {exc}") from None
                self._buckets[name] = TokenBucket(rate, clock=self.clock) if rate else None
            return self._buckets[name]

    def forget(self, task_name: str) -> None:
        """Drop the bucket of ``task_name``: the next :meth:`bucket_for` reads its rate limit again."""
        with self._lock:
            self._buckets.pop(task_name, None)

    def hold(self, item: T, *, wait_seconds: float) -> None:
        """Keep ``item`` until ``wait_seconds`` from now (by this limiter's clock)."""
        with self._lock:
            heapq.heappush(self._held, (self.clock() + wait_seconds, next(self._order), item))

    def pop_due(self) -> list[T]:
        """The held items whose time has come, in order."""
        now = self.clock()
        due: list[T] = []
        with self._lock:
            while self._held and self._held[0][0] <= now:
                due.append(heapq.heappop(self._held)[2])
        return due

    def seconds_until_next(self) -> float | None:
        """Time until the next held item is due (0 when one is), or None when nothing is held."""
        with self._lock:
            if not self._held:
                return None
            return max(0.0, self._held[0][0] - self.clock())

    def take_all(self) -> list[T]:
        """Remove and return every held item (warm shutdown hands them back)."""
        with self._lock:
            items = [entry[2] for entry in sorted(self._held)]
            self._held.clear()
            return items

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)
