"""The embedded store's tables, and the pragmas every connection sets."""

from __future__ import annotations

#: Bumped when the tables change; a file written by a newer version is refused with a clear error.
SCHEMA_VERSION = 1

#: Set on every connection. WAL lets readers run beside the one writer; NORMAL skips the fsync on
#: each commit (a power cut can lose the last commits, never corrupt the file).
CONNECTION_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
)

TABLES = (
    """
    CREATE TABLE IF NOT EXISTS queues (
        queue_id       TEXT PRIMARY KEY,          -- 32 hex digits, as Cloudflare's ids
        queue_name     TEXT NOT NULL UNIQUE,
        created_on_ms  INTEGER NOT NULL,
        modified_on_ms INTEGER NOT NULL,
        settings       TEXT NOT NULL,             -- QueueConfig as JSON
        backlog_count  INTEGER NOT NULL DEFAULT 0,
        backlog_bytes  INTEGER NOT NULL DEFAULT 0 -- kept here so a push checks the limit in O(1)
    )
    """,
    # The rowid orders messages that become visible at the same millisecond (first in, first out
    # where nothing else decides; the contract promises no order).
    """
    CREATE TABLE IF NOT EXISTS messages (
        seq              INTEGER PRIMARY KEY,
        id               TEXT NOT NULL,           -- 32 hex digits
        queue_id         TEXT NOT NULL,
        body             BLOB NOT NULL,           -- text, or bytes for content_type "bytes"
        content_type     TEXT NOT NULL,
        attempts         INTEGER NOT NULL,        -- deliveries so far, expired leases included
        timestamp_ms     INTEGER NOT NULL,        -- when it was sent (retention counts from here)
        visible_at_ms    INTEGER NOT NULL,        -- next delivery; equals lease_expires_ms while leased
        lease_id         TEXT,
        lease_expires_ms INTEGER,
        size_bytes       INTEGER NOT NULL         -- body + metadata, as the limits count it
    )
    """,
    "CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue_id, visible_at_ms)",
    # Partial: a new message has no lease, so sending never touches this index.
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_by_lease ON messages (lease_id) WHERE lease_id IS NOT NULL",
)
