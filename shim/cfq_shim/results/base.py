"""The result-backend seam: task state, and the shared state every stateful feature keeps.

A :class:`ResultBackend` is a small keyed store with expiry, plus two atomic operations. Every
backend (``sqlite:///``, ``memory://``, ``redis://``, ``db+…``, ``django-db``, ``d1://``) implements
the same seven primitives (the ``_`` methods below) and inherits the public API from this class, so
the contract suite in tests/results_contract covers every behaviour once per backend.

Public API (what the rest of the shim, and the ``ops``/``beat``/``fidelity`` features, call):

**Task meta** (Celery's ``backend.store_result``/``get_task_meta``/``forget``)
    :meth:`store_meta`, :meth:`store_many_meta`, :meth:`get_meta`, :meth:`get_many_meta`,
    :meth:`forget`. A meta is Celery's dict (``status``, ``result``, ``traceback``, ``children``,
    ``date_done``, ``task_id``, ...) made of JSON values (see :mod:`cfq_shim.results.meta`).
    Entries expire after ``expires_seconds`` (``result_expires``; None keeps them).

**Groups** :meth:`save_group`, :meth:`restore_group`, :meth:`delete_group` (``GroupResult.save``).

**Chord counting** :meth:`add_to_set` adds a distinct member and returns the set's size in one
    atomic step (a header task delivered twice counts once); :meth:`claim_once` / :meth:`complete_claim`
    let exactly one caller fire the chord body.

**Revoked ids** :meth:`revoke`, :meth:`is_revoked`, :meth:`revoked_ids`, each id with an expiry.

**Worker heartbeats** :meth:`heartbeat` (worker name -> JSON blob, timestamped), :meth:`heartbeats`
    (``fresh_within_seconds``), :meth:`forget_heartbeat`.

**Lease locks** :meth:`acquire_lock` (also renews for the owner), :meth:`renew_lock`,
    :meth:`release_lock`, :meth:`lock_owner`: one holder at a time, lost when the TTL passes unrenewed.

**Records** :meth:`put_record`, :meth:`get_record`, :meth:`delete_record`: a JSON value per (kind, key),
    with an expiry, for what an integration keeps beside a task's meta (the ``django.tasks`` backend
    keeps the task's path, arguments and attempts there, which Celery's meta does not carry).

**Expiry needs no beat**: reads never return an expired entry, and writes purge expired entries at
most once per ``cleanup_interval_seconds`` (:meth:`cleanup` does it now).

Times are wall-clock seconds (``time.time()``), so processes on different machines agree; tests inject
a clock through ``now=``.
"""

from __future__ import annotations

import abc
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

from ..exceptions import BackendError, ImproperlyConfigured

__all__ = [
    "ResultBackend", "Heartbeat", "UnsupportedResultBackend", "ResultBackendError", "Entry",
    "META_PREFIX", "GROUP_PREFIX",
]

#: Key prefixes: one flat namespace, one prefix per kind of record.
META_PREFIX = "celery-task-meta-"  # Celery's own key prefix, so a reader of the raw store recognises it
GROUP_PREFIX = "celery-taskset-meta-"
_SET_PREFIX = "cfq-set-"
_CLAIM_PREFIX = "cfq-claim-"
_REVOKED_PREFIX = "cfq-revoked-"
_HEARTBEAT_PREFIX = "cfq-heartbeat-"
_LOCK_PREFIX = "cfq-lock-"
_RECORD_PREFIX = "cfq-record-"

#: A claim's value once its work is done; a claim by owner X reads "claimed:X" until then.
_CLAIM_DONE = "done"


class UnsupportedResultBackend(ImproperlyConfigured):
    """The ``result_backend`` URL names a backend cfq_shim does not have (or is malformed)."""


class ResultBackendError(BackendError):
    """A backend could not be reached or answered an error (never carries credentials)."""


#: One write: key, JSON text, absolute expiry in seconds since the epoch (None: never expires).
Entry = tuple[str, str, "float | None"]


@dataclass(frozen=True)
class Heartbeat:
    """A worker's last heartbeat: its name, when it was written and the blob it wrote."""

    worker: str
    timestamp: float
    info: Any


class ResultBackend(abc.ABC):
    """Base of every result backend. Subclasses declare their capabilities and implement the primitives."""

    #: The URL scheme (``sqlite``, ``redis``, ...).
    scheme: ClassVar[str] = ""
    #: Processes on one machine see each other's writes.
    shared_between_processes: ClassVar[bool] = True
    #: Processes on different machines see each other's writes (a network service).
    shared_between_machines: ClassVar[bool] = False
    #: How often ``AsyncResult.get()`` asks, by default (seconds); remote backends back off from here.
    poll_interval_seconds: ClassVar[float] = 0.05
    #: The longest ``get()`` poll interval after backing off (seconds).
    max_poll_interval_seconds: ClassVar[float] = 0.5
    #: How many writes :meth:`store_many_meta` sends at once (one statement each; 1 = no batching).
    max_writes_per_request: ClassVar[int] = 500
    #: The store drops expired entries itself (Redis): :meth:`cleanup` has nothing left to purge.
    expires_by_itself: ClassVar[bool] = False

    #: How often writes purge expired entries (seconds). Reads always skip them.
    cleanup_interval_seconds: float = 60.0

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._last_cleanup = now()
        self._cleanup_lock = threading.Lock()

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str, **options: Any) -> "ResultBackend":
        """The backend for ``url`` (its scheme is :attr:`scheme`). Raises UnsupportedResultBackend."""

    # -- primitives (one implementation per backend) ----------------------------------------------------
    @abc.abstractmethod
    def _put(self, entries: Sequence[Entry]) -> None:
        """Write every entry (insert or replace), atomically where the store allows."""

    @abc.abstractmethod
    def _get_many(self, keys: Sequence[str], now: float) -> dict[str, str]:
        """The values of the keys that exist and have not expired at ``now``."""

    @abc.abstractmethod
    def _delete(self, keys: Sequence[str]) -> None:
        """Remove the keys (and the set members stored under them); missing keys are fine."""

    @abc.abstractmethod
    def _scan(self, prefix: str, now: float) -> dict[str, str]:
        """Every unexpired key starting with ``prefix``, with its value."""

    @abc.abstractmethod
    def _add_member(self, key: str, member: str, expires_at: float | None, now: float) -> int:
        """Add ``member`` to the set ``key`` unless present; return the set's size, atomically."""

    @abc.abstractmethod
    def _compare_and_set(self, key: str, expected: str | None, value: str, expires_at: float | None, now: float) -> bool:
        """Set ``key`` to ``value`` only if it currently holds ``expected`` (None: absent or expired).
        Returns whether it was set. Atomic against every other caller."""

    @abc.abstractmethod
    def _purge_expired(self, now: float) -> int:
        """Delete what has expired at ``now``; return how many entries went."""

    def close(self) -> None:
        """Release connections. The backend may be used again afterwards (it reconnects)."""

    def reset_after_fork(self) -> None:
        """Forget connections inherited from the parent process (never close them: the parent owns them)."""

    # -- helpers -----------------------------------------------------------------------------------------
    def _expires_at(self, expires_seconds: float | None, now: float) -> float | None:
        if expires_seconds is None:
            return None
        return now + float(expires_seconds)

    def _maybe_cleanup(self, now: float) -> None:
        if now - self._last_cleanup < self.cleanup_interval_seconds:
            return
        if not self._cleanup_lock.acquire(blocking=False):
            return
        try:
            self._last_cleanup = now
            self._purge_expired(now)
        finally:
            self._cleanup_lock.release()

    def cleanup(self) -> int:
        """Delete every expired entry now; returns how many went."""
        now = self._now()
        self._last_cleanup = now
        return self._purge_expired(now)

    # -- task meta -----------------------------------------------------------------------------------
    def store_meta(self, task_id: str, meta: Mapping[str, Any], *, expires_seconds: float | None = None) -> None:
        """Store a task's meta (replacing what was there)."""
        self.store_many_meta([(task_id, meta)], expires_seconds=expires_seconds)

    def store_many_meta(self, items: Iterable[tuple[str, Mapping[str, Any]]], *, expires_seconds: float | None = None) -> None:
        """Store several metas; backends that talk over a network send them in few requests."""
        now = self._now()
        expires_at = self._expires_at(expires_seconds, now)
        entries = [(META_PREFIX + task_id, _dumps(meta), expires_at) for task_id, meta in items]
        for start in range(0, len(entries), self.max_writes_per_request):
            self._put(entries[start:start + self.max_writes_per_request])
        self._maybe_cleanup(now)

    def get_meta(self, task_id: str) -> dict[str, Any] | None:
        """The stored meta of ``task_id``, or None when nothing (unexpired) is stored."""
        return self.get_many_meta([task_id]).get(task_id)

    def get_many_meta(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The metas that are stored, by task id (missing ids are left out)."""
        if not task_ids:
            return {}
        found = self._get_many([META_PREFIX + task_id for task_id in task_ids], self._now())
        offset = len(META_PREFIX)
        return {key[offset:]: json.loads(value) for key, value in found.items()}

    def forget(self, task_id: str) -> None:
        """Remove a task's meta (``AsyncResult.forget()``)."""
        self._delete([META_PREFIX + task_id])

    # -- groups -----------------------------------------------------------------------------------
    def save_group(self, group_id: str, result: Any, *, expires_seconds: float | None = None) -> None:
        """Store a group's description (``GroupResult.as_tuple()``, JSON)."""
        now = self._now()
        self._put([(GROUP_PREFIX + group_id, _dumps({"result": result}), self._expires_at(expires_seconds, now))])

    def restore_group(self, group_id: str) -> Any | None:
        value = self._get_many([GROUP_PREFIX + group_id], self._now()).get(GROUP_PREFIX + group_id)
        return None if value is None else json.loads(value)["result"]

    def delete_group(self, group_id: str) -> None:
        self._delete([GROUP_PREFIX + group_id])

    # -- chord counting ---------------------------------------------------------------------------------
    def add_to_set(self, key: str, member: str, *, expires_seconds: float | None = None) -> int:
        """Add ``member`` to the set ``key`` (no-op when present) and return the set's size, atomically.

        Chords call it with the group id and the header task's id: the size counts distinct header
        tasks, so a task delivered twice counts once."""
        now = self._now()
        return self._add_member(_SET_PREFIX + key, member, self._expires_at(expires_seconds, now), now)

    def discard_set(self, key: str) -> None:
        self._delete([_SET_PREFIX + key])

    def claim_once(self, key: str, owner: str, *, expires_seconds: float | None = None) -> bool:
        """True for the first caller to claim ``key``; False for everyone after.

        The same ``owner`` may claim again until :meth:`complete_claim` (a header task redelivered
        after its worker died between claiming and sending the body sends it then). Once completed,
        nobody gets it."""
        now = self._now()
        expires_at = self._expires_at(expires_seconds, now)
        mine = "claimed:" + owner
        full_key = _CLAIM_PREFIX + key
        return self._compare_and_set(full_key, None, mine, expires_at, now) or self._compare_and_set(
            full_key, mine, mine, expires_at, now
        )

    def complete_claim(self, key: str, owner: str, *, expires_seconds: float | None = None) -> bool:
        """Mark ``owner``'s claim on ``key`` as done: no further :meth:`claim_once` succeeds."""
        now = self._now()
        return self._compare_and_set(
            _CLAIM_PREFIX + key, "claimed:" + owner, _CLAIM_DONE, self._expires_at(expires_seconds, now), now
        )

    # -- revoked ids -------------------------------------------------------------------------------------
    def revoke(self, task_ids: Iterable[str], *, expires_seconds: float | None = None) -> None:
        """Record task ids as revoked until ``expires_seconds`` pass (None: until forgotten)."""
        now = self._now()
        expires_at = self._expires_at(expires_seconds, now)
        self._put([(_REVOKED_PREFIX + task_id, _dumps(now), expires_at) for task_id in task_ids])

    def is_revoked(self, task_id: str) -> bool:
        return bool(self._get_many([_REVOKED_PREFIX + task_id], self._now()))

    def revoked_ids(self) -> set[str]:
        """Every task id currently revoked."""
        offset = len(_REVOKED_PREFIX)
        return {key[offset:] for key in self._scan(_REVOKED_PREFIX, self._now())}

    # -- worker heartbeats ---------------------------------------------------------------------------------
    def heartbeat(self, worker: str, info: Any, *, expires_seconds: float | None = 300.0) -> None:
        """Record that ``worker`` is alive now, with a JSON blob (what it runs, its pid, ...)."""
        now = self._now()
        self._put([(_HEARTBEAT_PREFIX + worker, _dumps({"ts": now, "info": info}), self._expires_at(expires_seconds, now))])

    def heartbeats(self, fresh_within_seconds: float | None = None) -> dict[str, Heartbeat]:
        """The workers' last heartbeats, by worker name; with ``fresh_within_seconds``, only those
        written that recently."""
        now = self._now()
        offset = len(_HEARTBEAT_PREFIX)
        beats = {}
        for key, value in self._scan(_HEARTBEAT_PREFIX, now).items():
            record = json.loads(value)
            if fresh_within_seconds is None or record["ts"] >= now - fresh_within_seconds:
                beats[key[offset:]] = Heartbeat(key[offset:], record["ts"], record["info"])
        return beats

    def forget_heartbeat(self, worker: str) -> None:
        self._delete([_HEARTBEAT_PREFIX + worker])

    # -- lease locks ---------------------------------------------------------------------------------------
    def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lock ``name`` for ``owner`` for ``ttl_seconds``; True when ``owner`` holds it now.

        Free locks and locks whose TTL passed are taken; a lock ``owner`` already holds is renewed."""
        now = self._now()
        key = _LOCK_PREFIX + name
        expires_at = now + float(ttl_seconds)
        return self._compare_and_set(key, None, owner, expires_at, now) or self._compare_and_set(
            key, owner, owner, expires_at, now
        )

    def renew_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Extend ``owner``'s hold on ``name``; False when it no longer holds it (it expired and
        someone else took it, or it was released)."""
        now = self._now()
        return self._compare_and_set(_LOCK_PREFIX + name, owner, owner, now + float(ttl_seconds), now)

    def release_lock(self, name: str, owner: str) -> bool:
        """Let go of ``name`` if ``owner`` holds it; True when it did."""
        now = self._now()
        # Released = expired at once: the next acquire sees it as free.
        return self._compare_and_set(_LOCK_PREFIX + name, owner, owner, now - 1.0, now)

    def lock_owner(self, name: str) -> str | None:
        """Who holds ``name`` now, or None."""
        return self._get_many([_LOCK_PREFIX + name], self._now()).get(_LOCK_PREFIX + name)

    # -- records -------------------------------------------------------------------------------------------
    def put_record(self, kind: str, key: str, value: Any, *, expires_seconds: float | None = None) -> None:
        """Store a JSON ``value`` under ``(kind, key)`` (replacing what was there)."""
        now = self._now()
        self._put([(_record_key(kind, key), _dumps(value), self._expires_at(expires_seconds, now))])
        self._maybe_cleanup(now)

    def get_record(self, kind: str, key: str) -> Any | None:
        """The value stored under ``(kind, key)``, or None when nothing (unexpired) is."""
        full_key = _record_key(kind, key)
        value = self._get_many([full_key], self._now()).get(full_key)
        return None if value is None else json.loads(value)

    def delete_record(self, kind: str, key: str) -> None:
        self._delete([_record_key(kind, key)])

    # -- display ---------------------------------------------------------------------------------------
    def describe(self) -> str:
        """The backend for logs and errors: scheme and host or path, never credentials."""
        return f"{self.scheme}://"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def _record_key(kind: str, key: str) -> str:
    if not kind or ":" in kind:
        raise ValueError(f"a record kind is a non-empty name without ':', not {kind!r}")
    return f"{_RECORD_PREFIX}{kind}:{key}"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
