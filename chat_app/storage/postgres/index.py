"""The app's own tables on PostgreSQL: threads, search text, timeline notes,
token usage, partial replies and chosen heads, beside LangGraph's tables."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chat_app.storage.app_index import AppIndex, escape_like
from chat_app.storage.postgres.connection import nul_free

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

with contextlib.suppress(ImportError):  # open_pg says what is missing (MISSING_DEPS)
    import psycopg


APP_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS app_threads (
    thread_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    title_locked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    run_state TEXT NOT NULL DEFAULT 'idle'
)""",
    "CREATE INDEX IF NOT EXISTS app_threads_by_user ON app_threads(user_id, updated_at DESC)",
    "CREATE INDEX IF NOT EXISTS app_threads_by_id_prefix"
    " ON app_threads(user_id, thread_id text_pattern_ops)",
    """CREATE TABLE IF NOT EXISTS app_messages (
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (thread_id, message_id)
)""",
    """CREATE TABLE IF NOT EXISTS app_notes (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    profile_updated BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (thread_id, checkpoint_id)
)""",
    """CREATE TABLE IF NOT EXISTS app_usage (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_id)
)""",
    """CREATE TABLE IF NOT EXISTS app_partial_replies (
    thread_id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS app_heads (
    thread_id TEXT PRIMARY KEY,
    checkpoint_id TEXT NOT NULL
)""",
]


class PgThreadIndex(AppIndex):
    """The app's tables on PostgreSQL (statements: :class:`AppIndex`)."""

    _TRUE = "TRUE"
    _FALSE = "FALSE"
    # ILIKE: SQLite's LIKE ignores ASCII case, and so does this.
    _LIKE = "ILIKE"
    _META_COLS = "c.metadata -> 'step' AS step, c.metadata ->> 'source' AS source"

    def __init__(self, source: ConnectionPool[Any] | psycopg.Connection[Any]) -> None:
        # A pool, or one connection whose open transaction every method joins
        # (PgBackend.one_transaction).
        self.source = source

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if isinstance(self.source, psycopg.Connection):
            yield self.source
        else:
            with self.source.connection() as conn:
                yield conn

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        # Inside an open transaction this is a savepoint.
        with self.connection() as conn, conn.transaction():
            yield conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        with self.connection() as conn:
            row: dict[str, Any] | None = conn.execute(self._sql(sql), args).fetchone()
            return row

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any]) -> list[dict[str, Any]]:
        with self.connection() as conn:
            rows: list[dict[str, Any]] = conn.execute(self._sql(sql), args).fetchall()
            return rows

    def _run(self, conn: psycopg.Connection[Any], sql: str, args: tuple[Any, ...]) -> None:
        conn.execute(self._sql(sql), args)

    def _run_many(
        self, conn: psycopg.Connection[Any], sql: str, rows: list[tuple[Any, ...]]
    ) -> None:
        with conn.cursor() as cur:
            cur.executemany(self._sql(sql), rows)

    def _upsert(
        self, table: str, cols: tuple[str, ...], key: tuple[str, ...], reset: tuple[str, ...] = ()
    ) -> str:
        marks = ", ".join("?" * len(cols))
        sets = [f"{c} = EXCLUDED.{c}" for c in cols if c not in key]
        sets += [f"{c} = DEFAULT" for c in reset]
        return (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"
        )

    def _step_source(self, row: dict[str, Any]) -> tuple[int, str]:
        step = row["step"]
        ok = isinstance(step, int) and not isinstance(step, bool)
        return (step if ok else 0), str(row["source"] or "")

    @staticmethod
    def _text(text: str) -> str:
        return nul_free(text)

    def ids_with_prefix(self, user_id: str, prefix: str, limit: int) -> list[str]:
        """The user's thread ids starting with ``prefix`` (hex digits and '-' only).

        LIKE 'prefix%' is a range of the text_pattern_ops index whatever the
        database's collation (app_threads_by_id_prefix).
        """
        rows = self._all(
            "SELECT thread_id FROM app_threads WHERE user_id = ? AND thread_id LIKE ?"
            " ORDER BY thread_id LIMIT ?",
            (user_id, escape_like(prefix) + "%", limit),
        )
        return [str(r["thread_id"]) for r in rows]
