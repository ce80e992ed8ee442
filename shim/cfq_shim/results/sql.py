"""The primitives written once in SQL, for every backend that speaks it: SQLite, PostgreSQL (through
SQLAlchemy or Django) and D1 (SQLite over HTTP).

Two tables. ``cfq_result_entries`` holds every keyed record (task metas, groups, claims, revoked ids,
heartbeats, locks) with an optional absolute expiry; ``cfq_result_members`` holds the members of the
chord-counting sets. The statements use only what SQLite (3.24+) and PostgreSQL (9.5+) share: ``ON
CONFLICT`` upserts, ``substr`` for prefixes (no LIKE escaping), ``?`` placeholders that a backend whose
driver wants ``%s`` rewrites (:attr:`SQLResultBackend.placeholder`).

Atomicity: a compare-and-set is one conditional statement, judged by its row count; adding a member
and counting the set run in one transaction. Both hold under concurrent writers on every engine here.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

from .base import Entry, ResultBackend, ResultBackendError

__all__ = ["SQLResultBackend", "Statement", "StatementResult", "SCHEMA"]

ENTRIES = "cfq_result_entries"
MEMBERS = "cfq_result_members"

SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {ENTRIES} ("
    " entry_key TEXT PRIMARY KEY, entry_value TEXT NOT NULL, expires_at DOUBLE PRECISION)",
    f"CREATE TABLE IF NOT EXISTS {MEMBERS} ("
    " set_key TEXT NOT NULL, member TEXT NOT NULL, expires_at DOUBLE PRECISION, PRIMARY KEY (set_key, member))",
    f"CREATE INDEX IF NOT EXISTS {ENTRIES}_expiry ON {ENTRIES} (expires_at)",
)

_LIVE = "(expires_at IS NULL OR expires_at > ?)"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple = ()


@dataclass(frozen=True)
class StatementResult:
    rows: list
    rowcount: int


class SQLResultBackend(ResultBackend):
    """The primitives as SQL; a subclass only runs statements (:meth:`_run`) and creates the schema."""

    #: What the driver uses for a parameter: ``?`` (sqlite3, D1) or ``%s`` (psycopg, Django).
    placeholder: ClassVar[str] = "?"
    #: Bound parameters allowed in one statement (D1 allows 100).
    max_params_per_statement: ClassVar[int] = 900
    #: Longest statement the database takes, in bytes (D1: 100,000), or None for no limit.
    max_statement_bytes: ClassVar[int | None] = None

    @abc.abstractmethod
    def _run(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        """Run the statements in one transaction, in order; return each one's rows and row count."""

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _statement(self, sql: str, *params: Any) -> Statement:
        return Statement(self._sql(sql), tuple(params))

    def _chunks(self, items: Sequence[Any], params_each: int, *, other_params: int = 0) -> list[Sequence[Any]]:
        """``items`` cut so each statement binds at most ``max_params_per_statement`` parameters."""
        size = max(1, (self.max_params_per_statement - other_params) // params_each)
        return [items[start:start + size] for start in range(0, len(items), size)]

    # -- primitives -------------------------------------------------------------------------------------
    def _put(self, entries: Sequence[Entry]) -> None:
        statements = []
        chunk: list[Entry] = []
        size = 0
        per_statement = max(1, self.max_params_per_statement // 3)
        limit = self.max_statement_bytes
        for entry in entries:
            entry_size = len(entry[0].encode()) + len(entry[1].encode()) + 32 if limit else 0
            if limit and entry_size > limit - 512:
                raise ResultBackendError(
                    f"result backend {self.describe()}: a {entry_size}-byte value is over the {limit}-byte "
                    "statement limit; store large values elsewhere and return a reference"
                )
            if chunk and (len(chunk) >= per_statement or (limit and size + entry_size > limit - 512)):
                statements.append(self._upsert(chunk))
                chunk, size = [], 0
            chunk.append(entry)
            size += entry_size
        if chunk:
            statements.append(self._upsert(chunk))
        if statements:
            self._run(statements, write=True)

    def _upsert(self, chunk: Sequence[Entry]) -> Statement:
        values = ", ".join(["(?, ?, ?)"] * len(chunk))
        return self._statement(
            f"INSERT INTO {ENTRIES} (entry_key, entry_value, expires_at) VALUES {values} "
            "ON CONFLICT (entry_key) DO UPDATE SET entry_value = excluded.entry_value, "
            "expires_at = excluded.expires_at",
            *[part for entry in chunk for part in entry],
        )

    def _get_many(self, keys: Sequence[str], now: float) -> dict[str, str]:
        statements = []
        for chunk in self._chunks(list(dict.fromkeys(keys)), 1, other_params=1):
            marks = ", ".join(["?"] * len(chunk))
            statements.append(self._statement(
                f"SELECT entry_key, entry_value FROM {ENTRIES} WHERE entry_key IN ({marks}) AND {_LIVE}",
                *chunk, now,
            ))
        found: dict[str, str] = {}
        for result in self._run(statements, write=False):
            found.update((key, value) for key, value in result.rows)
        return found

    def _delete(self, keys: Sequence[str]) -> None:
        statements = []
        for chunk in self._chunks(list(keys), 1):
            marks = ", ".join(["?"] * len(chunk))
            statements.append(self._statement(f"DELETE FROM {ENTRIES} WHERE entry_key IN ({marks})", *chunk))
            statements.append(self._statement(f"DELETE FROM {MEMBERS} WHERE set_key IN ({marks})", *chunk))
        if statements:
            self._run(statements, write=True)

    def _scan(self, prefix: str, now: float) -> dict[str, str]:
        (result,) = self._run([self._statement(
            f"SELECT entry_key, entry_value FROM {ENTRIES} WHERE substr(entry_key, 1, ?) = ? AND {_LIVE}",
            len(prefix), prefix, now,
        )], write=False)
        return {key: value for key, value in result.rows}

    def _add_member(self, key: str, member: str, expires_at: float | None, now: float) -> int:
        results = self._run([
            # Lock the set first (a row in the entries table): in PostgreSQL's READ COMMITTED two
            # transactions adding at once would each count without the other's member, and neither
            # would see the set complete. The second now waits, and its count sees the first's member.
            self._statement(
                f"INSERT INTO {ENTRIES} (entry_key, entry_value, expires_at) VALUES (?, '', ?) "
                "ON CONFLICT (entry_key) DO UPDATE SET expires_at = excluded.expires_at",
                key, expires_at,
            ),
            self._statement(
                f"INSERT INTO {MEMBERS} (set_key, member, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (set_key, member) DO UPDATE SET expires_at = excluded.expires_at",
                key, member, expires_at,
            ),
            self._statement(f"SELECT COUNT(*) FROM {MEMBERS} WHERE set_key = ? AND {_LIVE}", key, now),
        ], write=True)
        return int(results[2].rows[0][0])

    def _compare_and_set(self, key: str, expected: str | None, value: str, expires_at: float | None, now: float) -> bool:
        if expected is None:
            statement = self._statement(
                f"INSERT INTO {ENTRIES} (entry_key, entry_value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (entry_key) DO UPDATE SET entry_value = excluded.entry_value, "
                f"expires_at = excluded.expires_at WHERE {ENTRIES}.expires_at IS NOT NULL AND {ENTRIES}.expires_at <= ?",
                key, value, expires_at, now,
            )
        else:
            statement = self._statement(
                f"UPDATE {ENTRIES} SET entry_value = ?, expires_at = ? WHERE entry_key = ? AND entry_value = ? AND {_LIVE}",
                value, expires_at, key, expected, now,
            )
        (result,) = self._run([statement], write=True)
        return result.rowcount == 1

    def _purge_expired(self, now: float) -> int:
        results = self._run([
            self._statement(f"DELETE FROM {ENTRIES} WHERE expires_at IS NOT NULL AND expires_at <= ?", now),
            self._statement(f"DELETE FROM {MEMBERS} WHERE expires_at IS NOT NULL AND expires_at <= ?", now),
        ], write=True)
        return sum(max(0, result.rowcount) for result in results)

    def _schema_statements(self) -> list[Statement]:
        return [Statement(sql) for sql in SCHEMA]
