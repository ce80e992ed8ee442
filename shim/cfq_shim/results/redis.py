"""``redis://`` and ``rediss://`` (TLS): results in the Redis a project already uses, through redis-py.

URLs are Celery's (``redis://[:password@]host:port/db``, ``rediss://…?ssl_cert_reqs=required``), parsed by
``redis.Redis.from_url``. Task metas sit under Celery's own keys (``celery-task-meta-<id>``) as JSON, so
the data looks the same to tools that read Celery's Redis backend.

Redis expires keys itself (``PEXPIREAT``), so nothing needs purging; expiry follows the server's clock.
Compare-and-set is one Lua script; adding to a set and counting it is one MULTI/EXEC. Connection errors
become :class:`ResultBackendError` naming the host, never the password.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from . import describe_url
from .base import Entry, ResultBackend, ResultBackendError, UnsupportedResultBackend

__all__ = ["RedisResultBackend"]

# KEYS[1] = key; ARGV = expected ("" = absent), new value, expire-at ms ("" = none)
_CAS = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
end
return 1
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _ms(expires_at: float | None) -> int | None:
    return None if expires_at is None else int(expires_at * 1000)


class RedisResultBackend(ResultBackend):
    scheme = "redis"
    shared_between_processes = True
    shared_between_machines = True
    poll_interval_seconds = 0.02
    max_poll_interval_seconds = 0.5
    max_writes_per_request = 1000
    expires_by_itself = True

    def __init__(self, url: str, *, now: Callable[[], float] = time.time, **client_options: Any) -> None:
        super().__init__(now=now)
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the environment
            raise UnsupportedResultBackend(
                "redis:// results need the redis client: pip install 'celery2cfq[redis]' (or redis>=4.2)"
            ) from None
        self._redis = redis
        self._url = url
        self._shown = describe_url(url)
        self._client_options = client_options
        self._client: Any = None
        self._cas: Any = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "RedisResultBackend":
        if urlsplit(url).scheme.lower() not in ("redis", "rediss"):
            raise UnsupportedResultBackend(f"not a redis:// URL: {describe_url(url)}")
        return cls(url, **options)

    # -- connection ---------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = self._redis.Redis.from_url(self._url, **self._client_options)
            except ValueError as exc:
                raise UnsupportedResultBackend(f"bad redis result backend URL {self._shown!r}: {exc}") from None
            self._cas = self._client.register_script(_CAS)
        return self._client

    def _call(self, what: Callable[[Any], Any]) -> Any:
        try:
            return what(self.client)
        except self._redis.exceptions.RedisError as exc:
            raise ResultBackendError(f"result backend {self._shown}: {type(exc).__name__}: {_without_secrets(str(exc), self._url)}") from None

    def reset_after_fork(self) -> None:
        self._client = None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def describe(self) -> str:
        return self._shown

    # -- primitives ---------------------------------------------------------------------------------
    def _put(self, entries: Sequence[Entry]) -> None:
        def run(client: Any) -> None:
            pipe = client.pipeline(transaction=False)
            for key, value, expires_at in entries:
                pipe.set(key, value, pxat=_ms(expires_at))
            pipe.execute()

        self._call(run)

    def _get_many(self, keys: Sequence[str], now: float) -> dict[str, str]:
        keys = list(dict.fromkeys(keys))
        values = self._call(lambda client: client.mget(keys))
        return {key: _text(value) for key, value in zip(keys, values) if value is not None}

    def _delete(self, keys: Sequence[str]) -> None:
        if keys:
            self._call(lambda client: client.delete(*keys))

    def _scan(self, prefix: str, now: float) -> dict[str, str]:
        def run(client: Any) -> dict[str, str]:
            keys = [_text(key) for key in client.scan_iter(match=_glob_escape(prefix) + "*", count=1000)]
            if not keys:
                return {}
            return {key: _text(value) for key, value in zip(keys, client.mget(keys)) if value is not None}

        return self._call(run)

    def _add_member(self, key: str, member: str, expires_at: float | None, now: float) -> int:
        def run(client: Any) -> int:
            pipe = client.pipeline(transaction=True)
            pipe.sadd(key, member)
            if expires_at is not None:
                pipe.pexpireat(key, _ms(expires_at))
            pipe.scard(key)
            return int(pipe.execute()[-1])

        return self._call(run)

    def _compare_and_set(self, key: str, expected: str | None, value: str, expires_at: float | None, now: float) -> bool:
        def run(client: Any) -> bool:
            expire_ms = _ms(expires_at)
            if expire_ms is not None and expire_ms <= int(now * 1000):
                # Setting an already-expired value (releasing a lock) is deleting it, if it is ours.
                expire_ms = max(1, expire_ms)
            return bool(self._cas(keys=[key], args=[expected or "", value, "" if expire_ms is None else expire_ms]))

        if expected == "":
            raise ValueError("compare_and_set: the empty string is reserved for 'absent'")
        return self._call(run)

    def _purge_expired(self, now: float) -> int:
        return 0  # Redis expires keys itself


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _without_secrets(message: str, url: str) -> str:
    password = urlsplit(url).password
    return message.replace(password, "***") if password else message
