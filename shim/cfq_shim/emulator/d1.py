"""D1's query endpoint on SQLite, for the ``d1://`` result backend (and the SDK's ``d1.database.query``).

``POST /accounts/{account_id}/d1/database/{database_id}/query`` with either ``{"sql", "params"}`` or
``{"batch": [{"sql", "params"}, …]}`` answers a list with one entry per statement:
``{"results": [row objects], "success": true, "meta": {"changes", "last_row_id", "rows_read",
"rows_written", "duration", "changed_db"}}``, as D1 does. A request runs in one transaction: a failing
statement rolls the whole request back and answers D1's error 7500 with SQLite's message.

Each database id is its own SQLite database, created on first use (D1 needs it created first; the
stand-in saves that step): in memory, or ``<directory>/<database_id>.sqlite3`` when the stand-in has a
file (``cfq-shim emulator --db path`` keeps them next to it, in ``path.d1/``). D1 limits enforced here:
100 bound parameters and 100,000 bytes per statement.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from typing import Any

from .api import ApiError

__all__ = ["D1Service", "query_database", "D1_ERROR"]

#: D1's error code for a statement the database refused.
D1_ERROR = 7500
MAX_PARAMS = 100
MAX_STATEMENT_BYTES = 100_000
_DATABASE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class D1Service:
    """The stand-in's D1 databases: one SQLite database per id, each used by one request at a time."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory
        self._databases: dict[str, tuple[sqlite3.Connection, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _database(self, database_id: str) -> tuple[sqlite3.Connection, threading.Lock]:
        if not _DATABASE_ID.match(database_id):
            raise ApiError(7404, f"database {database_id!r} not found", status=404)
        with self._lock:
            found = self._databases.get(database_id)
            if found is None:
                if self.directory:
                    os.makedirs(self.directory, exist_ok=True)
                    path = os.path.join(self.directory, f"{database_id}.sqlite3")
                else:
                    path = ":memory:"
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                found = self._databases[database_id] = (conn, threading.Lock())
            return found

    def query(self, database_id: str, statements: list[tuple[str, list]]) -> list[dict[str, Any]]:
        conn, lock = self._database(database_id)
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                answers = [self._one(conn, sql, params) for sql, params in statements]
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return answers

    @staticmethod
    def _one(conn: sqlite3.Connection, sql: str, params: list) -> dict[str, Any]:
        started = time.perf_counter()
        before = conn.total_changes
        try:
            cursor = conn.execute(sql, params)
            columns = [column[0] for column in cursor.description or ()]
            rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise ApiError(D1_ERROR, f"{exc}: SQLITE_ERROR", status=400) from None
        changes = conn.total_changes - before
        return {
            "results": rows,
            "success": True,
            "meta": {
                "changes": changes,
                "last_row_id": cursor.lastrowid or 0,
                "changed_db": changes > 0,
                "rows_read": len(rows),
                "rows_written": changes,
                "duration": round((time.perf_counter() - started) * 1000, 3),
            },
        }

    def close(self) -> None:
        with self._lock:
            for conn, _ in self._databases.values():
                conn.close()
            self._databases.clear()


def _statement(item: Any) -> tuple[str, list]:
    if not isinstance(item, dict) or not isinstance(item.get("sql"), str) or not item["sql"].strip():
        raise ApiError(D1_ERROR, "each query needs a non-empty 'sql' string", status=400)
    params = item.get("params") or []
    if not isinstance(params, list):
        raise ApiError(D1_ERROR, "'params' must be an array", status=400)
    if len(params) > MAX_PARAMS:
        raise ApiError(D1_ERROR, f"too many SQL variables: {len(params)} (D1 allows {MAX_PARAMS})", status=400)
    if len(item["sql"].encode()) > MAX_STATEMENT_BYTES:
        raise ApiError(D1_ERROR, f"statement too long: over {MAX_STATEMENT_BYTES} bytes", status=400)
    for value in params:
        if isinstance(value, (dict, list)):
            raise ApiError(D1_ERROR, "params must be strings, numbers, booleans or null", status=400)
    return item["sql"], params


def query_database(service: D1Service, params: dict[str, str], body: Any) -> list[dict[str, Any]]:
    """The handler of D1's query endpoint: ``{"sql", "params"}`` or ``{"batch": [...]}``."""
    if not isinstance(body, dict):
        raise ApiError(D1_ERROR, "the request body must be a JSON object", status=400)
    if "batch" in body:
        batch = body["batch"]
        if not isinstance(batch, list) or not batch:
            raise ApiError(D1_ERROR, "'batch' must be a non-empty array", status=400)
        statements = [_statement(item) for item in batch]
    else:
        statements = [_statement(body)]
    return service.query(params["database_id"], statements)
