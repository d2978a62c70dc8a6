"""The app's own tables on PostgreSQL: threads, search text, timeline notes,
token usage, partial replies and chosen heads, beside LangGraph's tables."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chat_app.service.events import CheckpointInfo, ThreadInfo
from chat_app.storage.app_index import APP_TABLES, escape_like, uuid6_time
from chat_app.storage.postgres.connection import nul_free as _nul_free

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


class PgThreadIndex:
    """The app's tables on PostgreSQL; same methods and semantics as ThreadIndex."""

    _COLS = "thread_id, title, created_at, updated_at, message_count, run_state"

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

    def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        with self.connection() as conn:
            row: dict[str, Any] | None = conn.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any]) -> list[dict[str, Any]]:
        with self.connection() as conn:
            rows: list[dict[str, Any]] = conn.execute(sql, args).fetchall()
            return rows

    @staticmethod
    def _row(r: dict[str, Any]) -> ThreadInfo:
        return ThreadInfo(
            id=r["thread_id"],
            title=r["title"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            message_count=r["message_count"],
            interrupted=r["run_state"] == "running",
        )

    def create(self, user_id: str, title: str = "", thread_id: str | None = None) -> ThreadInfo:
        import uuid

        now = time.time()
        tid = thread_id or str(uuid.uuid4())
        title = _nul_free(title)
        with self._tx() as c:
            c.execute(
                "INSERT INTO app_threads (thread_id, user_id, title, title_locked, created_at,"
                " updated_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (tid, user_id, title, bool(title), now, now),
            )
        return ThreadInfo(tid, title, now, now, 0)

    def get(self, user_id: str, thread_id: str) -> ThreadInfo | None:
        r = self._one(
            f"SELECT {self._COLS} FROM app_threads WHERE thread_id = %s AND user_id = %s",
            (thread_id, user_id),
        )
        return self._row(r) if r else None

    def ids_with_prefix(self, user_id: str, prefix: str, limit: int) -> list[str]:
        """The user's thread ids starting with ``prefix`` (hex digits and '-' only).

        LIKE 'prefix%' is a range of the text_pattern_ops index whatever the
        database's collation (app_threads_by_id_prefix).
        """
        rows = self._all(
            "SELECT thread_id FROM app_threads WHERE user_id = %s AND thread_id LIKE %s"
            " ORDER BY thread_id LIMIT %s",
            (user_id, escape_like(prefix) + "%", limit),
        )
        return [str(r["thread_id"]) for r in rows]

    def owner(self, thread_id: str) -> str | None:
        r = self._one("SELECT user_id FROM app_threads WHERE thread_id = %s", (thread_id,))
        return str(r["user_id"]) if r else None

    def list_threads(
        self, user_id: str, limit: int | None = None, query: str = ""
    ) -> list[ThreadInfo]:
        args: list[Any] = [user_id]
        sql = f"SELECT {self._COLS} FROM app_threads WHERE user_id = %s"
        if query:
            # ILIKE: SQLite's LIKE ignores ASCII case, and so does this.
            pattern = f"%{escape_like(_nul_free(query))}%"
            sql += (
                " AND (title ILIKE %s ESCAPE '\\' OR thread_id IN (SELECT thread_id FROM"
                " app_messages WHERE text ILIKE %s ESCAPE '\\'))"
            )
            args += [pattern, pattern]
        sql += " ORDER BY updated_at DESC, thread_id"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return [self._row(r) for r in self._all(sql, args)]

    def rename(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET title = %s, title_locked = TRUE, updated_at = %s"
                " WHERE thread_id = %s",
                (_nul_free(title), time.time(), thread_id),
            )

    def set_auto_title(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET title = %s WHERE thread_id = %s AND NOT title_locked"
                " AND title = ''",
                (_nul_free(title), thread_id),
            )

    def set_run_state(self, thread_id: str, state: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET run_state = %s, updated_at = %s WHERE thread_id = %s",
                (state, time.time(), thread_id),
            )

    def is_running(self, thread_id: str) -> bool:
        r = self._one("SELECT run_state FROM app_threads WHERE thread_id = %s", (thread_id,))
        return bool(r and r["run_state"] == "running")

    def running(self, user_id: str | None = None) -> list[str]:
        if user_id is None:
            rows = self._all("SELECT thread_id FROM app_threads WHERE run_state = 'running'", ())
        else:
            rows = self._all(
                "SELECT thread_id FROM app_threads WHERE run_state = 'running' AND user_id = %s",
                (user_id,),
            )
        return [r["thread_id"] for r in rows]

    def record_turn(
        self,
        thread_id: str,
        message_count: int,
        messages: Iterable[tuple[str, str, str]],
        notes: Iterable[tuple[str, str, str, bool]],
        usage: tuple[str, int, int] | None = None,
    ) -> None:
        """After a turn: counts, searchable text, timeline notes, the reply's
        token usage, run finished."""
        msg_rows = [(thread_id, mid, role, _nul_free(text)) for mid, role, text in messages]
        note_rows = [(thread_id, cid, kind, _nul_free(s), bool(p)) for cid, kind, s, p in notes]
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET message_count = %s, updated_at = %s,"
                " run_state = 'idle' WHERE thread_id = %s",
                (message_count, time.time(), thread_id),
            )
            with c.cursor() as cur:
                if msg_rows:
                    cur.executemany(
                        "INSERT INTO app_messages (thread_id, message_id, role, text)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id, message_id)"
                        " DO UPDATE SET role = EXCLUDED.role, text = EXCLUDED.text",
                        msg_rows,
                    )
                if note_rows:
                    cur.executemany(
                        "INSERT INTO app_notes (thread_id, checkpoint_id, kind, summary,"
                        " profile_updated) VALUES (%s, %s, %s, %s, %s)"
                        " ON CONFLICT (thread_id, checkpoint_id) DO UPDATE SET"
                        " kind = EXCLUDED.kind, summary = EXCLUDED.summary,"
                        " profile_updated = EXCLUDED.profile_updated",
                        note_rows,
                    )
            if usage is not None:
                c.execute(
                    "INSERT INTO app_usage (thread_id, checkpoint_id, input_tokens,"
                    " output_tokens) VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id,"
                    " checkpoint_id) DO UPDATE SET input_tokens = EXCLUDED.input_tokens,"
                    " output_tokens = EXCLUDED.output_tokens",
                    (thread_id, *usage),
                )
            c.execute("DELETE FROM app_partial_replies WHERE thread_id = %s", (thread_id,))

    def add_note(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> None:
        with self._tx() as c:
            # Like SQLite's INSERT OR REPLACE: the whole row is replaced.
            c.execute(
                "INSERT INTO app_notes (thread_id, checkpoint_id, kind, summary)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id, checkpoint_id) DO UPDATE SET"
                " kind = EXCLUDED.kind, summary = EXCLUDED.summary, profile_updated = FALSE",
                (thread_id, checkpoint_id, kind, _nul_free(summary)),
            )

    def set_count(self, thread_id: str, message_count: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET message_count = %s, updated_at = %s WHERE thread_id = %s",
                (message_count, time.time(), thread_id),
            )

    def set_times(self, thread_id: str, created_at: float, updated_at: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET created_at = %s, updated_at = %s WHERE thread_id = %s",
                (created_at, updated_at, thread_id),
            )

    def unindexed(self) -> list[tuple[str, str, str]]:
        rows = self._all(
            "SELECT thread_id, MIN(checkpoint_id) AS first, MAX(checkpoint_id) AS last"
            " FROM checkpoints WHERE checkpoint_ns = '' AND thread_id NOT IN"
            " (SELECT thread_id FROM app_threads) GROUP BY thread_id ORDER BY thread_id",
            (),
        )
        return [(str(r["thread_id"]), str(r["first"]), str(r["last"])) for r in rows]

    def save_partial(self, thread_id: str, text: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO app_partial_replies (thread_id, text, updated_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (thread_id) DO UPDATE SET"
                " text = EXCLUDED.text, updated_at = EXCLUDED.updated_at",
                (thread_id, _nul_free(text), time.time()),
            )

    def partial(self, thread_id: str) -> str:
        r = self._one("SELECT text FROM app_partial_replies WHERE thread_id = %s", (thread_id,))
        return str(r["text"]) if r else ""

    def stamp(self, user_id: str) -> tuple[int, float]:
        r = self._one(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS t FROM app_threads"
            " WHERE user_id = %s",
            (user_id,),
        )
        return (int(r["n"]), float(r["t"])) if r else (0, 0.0)

    def note(self, thread_id: str, checkpoint_id: str) -> tuple[str, str] | None:
        r = self._one(
            "SELECT kind, summary FROM app_notes WHERE thread_id = %s AND checkpoint_id = %s",
            (thread_id, checkpoint_id),
        )
        return (str(r["kind"]), str(r["summary"])) if r else None

    def checkpoints(self, thread_id: str, newest: int | None = None) -> list[CheckpointInfo]:
        """Checkpoints of the thread (all, or the ``newest`` few) from the saver's
        metadata (jsonb) and the notes, oldest first; no state is deserialized."""
        sql = (
            "SELECT c.checkpoint_id, c.parent_checkpoint_id, c.metadata -> 'step' AS step,"
            " c.metadata ->> 'source' AS source, n.kind, n.summary, n.profile_updated,"
            " u.input_tokens, u.output_tokens"
            " FROM checkpoints c LEFT JOIN app_notes n"
            " ON n.thread_id = c.thread_id AND n.checkpoint_id = c.checkpoint_id"
            " LEFT JOIN app_usage u"
            " ON u.thread_id = c.thread_id AND u.checkpoint_id = c.checkpoint_id"
            " WHERE c.thread_id = %s AND c.checkpoint_ns = ''"
        )
        if newest is None:
            rows = self._all(sql + " ORDER BY c.checkpoint_id", (thread_id,))
        else:
            rows = self._all(sql + " ORDER BY c.checkpoint_id DESC LIMIT %s", (thread_id, newest))[
                ::-1
            ]
        out: list[CheckpointInfo] = []
        for r in rows:
            step = r["step"]
            cid = r["checkpoint_id"]
            out.append(
                CheckpointInfo(
                    id=cid,
                    parent_id=r["parent_checkpoint_id"],
                    step=step if isinstance(step, int) and not isinstance(step, bool) else 0,
                    source=str(r["source"] or ""),
                    created_at=uuid6_time(cid),
                    kind=r["kind"] or "",
                    summary=r["summary"] or "",
                    profile_updated=bool(r["profile_updated"]),
                    input_tokens=r["input_tokens"],
                    output_tokens=r["output_tokens"],
                )
            )
        return out

    def newest_checkpoint(self, thread_id: str) -> str | None:
        r = self._one(
            "SELECT MAX(checkpoint_id) AS m FROM checkpoints WHERE thread_id = %s"
            " AND checkpoint_ns = ''",
            (thread_id,),
        )
        return str(r["m"]) if r and r["m"] else None

    def chosen_head(self, thread_id: str) -> str | None:
        """The checkpoint the person chose to continue from (another branch's
        end); None: the newest checkpoint is the head."""
        r = self._one("SELECT checkpoint_id FROM app_heads WHERE thread_id = %s", (thread_id,))
        return str(r["checkpoint_id"]) if r else None

    def choose_head(self, thread_id: str, checkpoint_id: str | None) -> None:
        """Show ``checkpoint_id``'s branch; None: the newest again (after a write)."""
        with self._tx() as c:
            if checkpoint_id is None:
                c.execute("DELETE FROM app_heads WHERE thread_id = %s", (thread_id,))
            else:
                c.execute(
                    "INSERT INTO app_heads (thread_id, checkpoint_id) VALUES (%s, %s)"
                    " ON CONFLICT (thread_id) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id",
                    (thread_id, checkpoint_id),
                )

    def delete(self, thread_id: str) -> None:
        with self._tx() as c:
            for table in APP_TABLES:
                c.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread_id,))
