"""The app's own tables beside the checkpoints (SQLite).

LangGraph has no list-threads API and ``saver.list(None)`` scans every
checkpoint, so the threads live in their own indexed table. The timeline
notes let the history pane label checkpoints without deserializing states.
Every value reaches SQL as a parameter.

The notes table (short rows, looked up by their key) is WITHOUT ROWID in a
new database: no second copy of its key in an index. ``app_messages`` keeps
a rowid: its rows hold whole replies, which a WITHOUT ROWID table would
spill to overflow pages once longer than about a quarter of a page.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chat_app.storage.app_index import AppIndex

SCHEMA = """
CREATE TABLE IF NOT EXISTS app_threads (
    thread_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    title_locked INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    run_state TEXT NOT NULL DEFAULT 'idle'
);
CREATE INDEX IF NOT EXISTS app_threads_by_user ON app_threads(user_id, updated_at DESC);
CREATE TABLE IF NOT EXISTS app_messages (
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (thread_id, message_id)
);
CREATE TABLE IF NOT EXISTS app_notes (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    profile_updated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (thread_id, checkpoint_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS app_usage (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS app_partial_replies (
    thread_id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS app_heads (
    thread_id TEXT PRIMARY KEY,
    checkpoint_id TEXT NOT NULL
);
"""


class ThreadIndex(AppIndex):
    """The app's tables in the SQLite file (statements: :class:`AppIndex`)."""

    def __init__(self, conn: sqlite3.Connection, *, joined: bool = False) -> None:
        """``joined``: the caller holds a transaction open on ``conn`` and
        commits it; every write joins it (SqliteBackend.one_transaction)."""
        self.conn = conn
        self.joined = joined
        # IMMEDIATE: see create_checkpoint_tables (first uses racing on a new file).
        conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.joined:
            yield self.conn
            return
        # IMMEDIATE: take the write lock up front so a read-then-write
        # transaction never fails with SQLITE_BUSY halfway.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        cur = self.conn.execute(sql, args)
        r = cur.fetchone()
        return None if r is None else dict(zip([d[0] for d in cur.description], r, strict=True))

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any]) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def _run(self, conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> None:
        conn.execute(sql, args)

    def _run_many(self, conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
        conn.executemany(sql, rows)

    def _upsert(
        self, table: str, cols: tuple[str, ...], key: tuple[str, ...], reset: tuple[str, ...] = ()
    ) -> str:
        # REPLACE deletes the old row: the columns not given take their defaults.
        marks = ", ".join("?" * len(cols))
        return f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({marks})"

    def _step_source(self, row: dict[str, Any]) -> tuple[int, str]:
        blob = row["metadata"]
        try:
            meta = json.loads(blob) if blob else {}
        except (ValueError, TypeError):
            meta = {}
        step = meta.get("step", 0)
        return (step if isinstance(step, int) else 0), str(meta.get("source", ""))

    def ids_with_prefix(self, user_id: str, prefix: str, limit: int) -> list[str]:
        """The user's thread ids starting with ``prefix`` (hex digits and '-' only).

        GLOB, unlike LIKE, is case-sensitive as the primary key's BINARY
        collation is, so SQLite answers it from the key's index.
        """
        rows = self.conn.execute(
            "SELECT thread_id FROM app_threads WHERE thread_id GLOB ? AND user_id = ?"
            " ORDER BY thread_id LIMIT ?",
            (prefix + "*", user_id, limit),
        )
        return [str(r[0]) for r in rows]
