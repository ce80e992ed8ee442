"""``d1://DATABASE_ID``: results in Cloudflare D1, through the official SDK's D1 query API.

For deployments that keep nothing but Cloudflare. The account comes from ``CLOUDFLARE_ACCOUNT_ID``, the
token from ``CLOUDFLARE_API_TOKEN`` (D1: Edit), and ``CLOUDFLARE_BASE_URL`` points the SDK at the local
stand-in (``cfq-shim emulator``), which serves the same endpoint on SQLite.

Every operation is one HTTP request: its statements travel as one ``batch``, which D1 runs as one
transaction (a chord's lock + add + count, many results stored together). Statements stay under D1's
limits: 100 bound parameters and 100,000 bytes each; a single result larger than that is refused with a
clear error (the task is then stored as FAILURE saying so).

**The REST budget.** Cloudflare's API allows 1,200 requests per 5 minutes per user (4 per second on
average), shared by every process using the token. A task that stores its result costs one request
(two with ``track_started``), a chord header task three, and ``get()`` polls with backoff from 0.25 s to
2 s. So D1 suits low-volume state (progress pages, a few hundred results a minute), not thousands of
tasks per second: use ``sqlite:///`` on one machine or ``redis://`` for that. The SDK retries 429 answers
with backoff.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Sequence
from urllib.parse import parse_qs, urlsplit

from ..credentials import malformed_token
from .base import ResultBackendError, UnsupportedResultBackend
from .sql import SQLResultBackend, Statement, StatementResult

__all__ = ["D1ResultBackend", "MAX_STATEMENT_BYTES", "MAX_PARAMS"]

TOKEN_VARIABLE = "CLOUDFLARE_API_TOKEN"
ACCOUNT_VARIABLE = "CLOUDFLARE_ACCOUNT_ID"
BASE_URL_VARIABLE = "CLOUDFLARE_BASE_URL"
#: D1's limits per statement.
MAX_STATEMENT_BYTES = 100_000
MAX_PARAMS = 100


class D1ResultBackend(SQLResultBackend):
    scheme = "d1"
    shared_between_processes = True
    shared_between_machines = True
    poll_interval_seconds = 0.25
    max_poll_interval_seconds = 2.0
    max_params_per_statement = MAX_PARAMS
    max_statement_bytes = MAX_STATEMENT_BYTES
    max_writes_per_request = 2_000
    #: Purging costs a request: at most every 10 minutes per process.
    cleanup_interval_seconds = 600.0

    def __init__(
        self,
        database_id: str,
        *,
        account_id: str,
        api_token: str,
        base_url: str | None = None,
        max_retries: int = 4,
        timeout_seconds: float = 30.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(now=now)
        import cloudflare

        if not database_id:
            raise UnsupportedResultBackend("d1:// needs a database id: d1://DATABASE_ID")
        if not account_id:
            raise UnsupportedResultBackend(f"d1://{database_id}: set {ACCOUNT_VARIABLE} (the account that owns the database)")
        if not api_token:
            raise UnsupportedResultBackend(f"d1://{database_id}: set {TOKEN_VARIABLE} (a token with D1: Edit)")
        malformed = malformed_token(api_token)
        if malformed:
            raise UnsupportedResultBackend(f"d1://{database_id}: {TOKEN_VARIABLE} {malformed}")
        self._cloudflare = cloudflare
        self.database_id = database_id
        self.account_id = account_id
        self._client = cloudflare.Cloudflare(api_token=api_token, base_url=base_url, max_retries=max_retries,
                                             timeout=timeout_seconds)
        self._run(self._schema_statements(), write=True)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "D1ResultBackend":
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return cls(
            parts.hostname or "",
            account_id=query.get("account_id") or os.environ.get(ACCOUNT_VARIABLE, ""),
            api_token=os.environ.get(TOKEN_VARIABLE, ""),
            base_url=os.environ.get(BASE_URL_VARIABLE) or None,
            **options,
        )

    # -- one request per call -----------------------------------------------------------------------------
    def _run(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        try:
            if len(statements) == 1:
                page = self._client.d1.database.query(
                    self.database_id, account_id=self.account_id, sql=statements[0].sql, params=list(statements[0].params)
                )
            else:
                page = self._client.d1.database.query(
                    self.database_id, account_id=self.account_id,
                    batch=[{"sql": s.sql, "params": list(s.params)} for s in statements],
                )
            answers = list(page.result)
        except self._cloudflare.APIError as exc:
            raise ResultBackendError(f"result backend d1://{self.database_id}: {type(exc).__name__}: {_message(exc)}") from None
        results = []
        for answer in answers:
            rows = [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in (answer.results or [])]
            changes = getattr(answer.meta, "changes", None) if answer.meta is not None else None
            results.append(StatementResult(rows, int(changes or 0)))
        return results

    def close(self) -> None:
        self._client.close()

    def describe(self) -> str:
        return f"d1://{self.database_id}"


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            return f"{errors[0].get('code')}: {errors[0].get('message')}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
