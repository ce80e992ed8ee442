"""The embedded store's tables, and the pragmas every connection sets."""

from __future__ import annotations

#: Bumped when the tables change; a file written by a newer version is refused with a clear error.
SCHEMA_VERSION = 1

#: Pages of write-ahead log past which a commit also checkpoints (SQLite's default is 1,000).
AUTOCHECKPOINT_PAGES = 10_000

#: The page size of a new file (SQLite's default is 4,096; a file keeps the size it was created with).
#: A ``.delay()`` commits three pages (the message's table page, its index page, the queue's row), and a
#: commit writes and checksums each one whole into the log: at 2,048 bytes a commit costs ~4 us less
#: (one process, ``bench/shim_throughput.py``: 21,200-22,000 -> 24,700-25,300 ``.delay()``/s, drains
#: unchanged within the noise). The rows are small (a message is a few hundred bytes; a body too big for
#: a page overflows at any size).
PAGE_SIZE_BYTES = 2048

#: Set on every connection. WAL lets readers run beside the one writer. ``synchronous=NORMAL``: a commit
#: is written to the log but not fsynced, so it survives the process being killed (``kill -9``: the OS
#: holds the write); a power cut or OS crash can lose what the OS had not written out yet, never
#: corrupt the file. The fsyncs happen at checkpoints, two or three each, run by whichever connection
#: commits past ``wal_autocheckpoint`` pages: at SQLite's 1,000 a producer paid them every ~290
#: ``.delay()`` calls, most of a call's wall time on a busy disk (measured: 215 fsyncs, 0.95 s, in
#: 20,000 calls; 26 fsyncs, 0.37 s at 10,000 pages). The log then grows to ~20 MB between checkpoints.
CONNECTION_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}",
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
