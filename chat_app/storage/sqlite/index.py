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
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from chat_app.service.events import CheckpointInfo, ThreadInfo
from chat_app.storage.app_index import APP_TABLES, escape_like, uuid6_time

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


class ThreadIndex:
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

    @staticmethod
    def _row(r: tuple[Any, ...]) -> ThreadInfo:
        return ThreadInfo(
            id=r[0],
            title=r[1],
            created_at=r[2],
            updated_at=r[3],
            message_count=r[4],
            interrupted=r[5] == "running",
        )

    _COLS = "thread_id, title, created_at, updated_at, message_count, run_state"

    def create(self, user_id: str, title: str = "", thread_id: str | None = None) -> ThreadInfo:
        now = time.time()
        tid = thread_id or str(uuid.uuid4())
        with self._tx() as c:
            c.execute(
                "INSERT INTO app_threads (thread_id, user_id, title, title_locked, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (tid, user_id, title, 1 if title else 0, now, now),
            )
        return ThreadInfo(tid, title, now, now, 0)

    def get(self, user_id: str, thread_id: str) -> ThreadInfo | None:
        r = self.conn.execute(
            f"SELECT {self._COLS} FROM app_threads WHERE thread_id = ? AND user_id = ?",
            (thread_id, user_id),
        ).fetchone()
        return self._row(r) if r else None

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

    def owner(self, thread_id: str) -> str | None:
        r = self.conn.execute(
            "SELECT user_id FROM app_threads WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        return str(r[0]) if r else None

    def list_threads(
        self, user_id: str, limit: int | None = None, query: str = ""
    ) -> list[ThreadInfo]:
        args: list[Any] = [user_id]
        sql = f"SELECT {self._COLS} FROM app_threads WHERE user_id = ?"
        if query:
            pattern = f"%{escape_like(query)}%"
            sql += (
                " AND (title LIKE ? ESCAPE '\\' OR thread_id IN (SELECT thread_id FROM"
                " app_messages WHERE text LIKE ? ESCAPE '\\'))"
            )
            args += [pattern, pattern]
        sql += " ORDER BY updated_at DESC, thread_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._row(r) for r in self.conn.execute(sql, args)]

    def rename(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET title = ?, title_locked = 1, updated_at = ?"
                " WHERE thread_id = ?",
                (title, time.time(), thread_id),
            )

    def set_auto_title(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET title = ? WHERE thread_id = ? AND title_locked = 0"
                " AND title = ''",
                (title, thread_id),
            )

    def set_run_state(self, thread_id: str, state: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET run_state = ?, updated_at = ? WHERE thread_id = ?",
                (state, time.time(), thread_id),
            )

    def is_running(self, thread_id: str) -> bool:
        r = self.conn.execute(
            "SELECT run_state FROM app_threads WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        return bool(r and r[0] == "running")

    def running(self, user_id: str | None = None) -> list[str]:
        if user_id is None:
            rows = self.conn.execute(
                "SELECT thread_id FROM app_threads WHERE run_state = 'running'"
            )
        else:
            rows = self.conn.execute(
                "SELECT thread_id FROM app_threads WHERE run_state = 'running' AND user_id = ?",
                (user_id,),
            )
        return [r[0] for r in rows]

    def record_turn(
        self,
        thread_id: str,
        message_count: int,
        messages: Iterable[tuple[str, str, str]],
        notes: Iterable[tuple[str, str, str, bool]],
        usage: tuple[str, int, int] | None = None,
    ) -> None:
        """After a turn: counts, searchable text, timeline notes, the reply's
        token usage (checkpoint, in, out), run finished."""
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET message_count = ?, updated_at = ?, run_state = 'idle'"
                " WHERE thread_id = ?",
                (message_count, time.time(), thread_id),
            )
            c.executemany(
                "INSERT OR REPLACE INTO app_messages (thread_id, message_id, role, text)"
                " VALUES (?, ?, ?, ?)",
                [(thread_id, mid, role, text) for mid, role, text in messages],
            )
            c.executemany(
                "INSERT OR REPLACE INTO app_notes (thread_id, checkpoint_id, kind, summary,"
                " profile_updated) VALUES (?, ?, ?, ?, ?)",
                [(thread_id, cid, kind, summ, int(p)) for cid, kind, summ, p in notes],
            )
            if usage is not None:
                c.execute(
                    "INSERT OR REPLACE INTO app_usage (thread_id, checkpoint_id, input_tokens,"
                    " output_tokens) VALUES (?, ?, ?, ?)",
                    (thread_id, *usage),
                )
            c.execute("DELETE FROM app_partial_replies WHERE thread_id = ?", (thread_id,))

    def add_note(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO app_notes (thread_id, checkpoint_id, kind, summary)"
                " VALUES (?, ?, ?, ?)",
                (thread_id, checkpoint_id, kind, summary),
            )

    def set_count(self, thread_id: str, message_count: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET message_count = ?, updated_at = ? WHERE thread_id = ?",
                (message_count, time.time(), thread_id),
            )

    def set_times(self, thread_id: str, created_at: float, updated_at: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET created_at = ?, updated_at = ? WHERE thread_id = ?",
                (created_at, updated_at, thread_id),
            )

    def unindexed(self) -> list[tuple[str, str, str]]:
        rows = self.conn.execute(
            "SELECT thread_id, MIN(checkpoint_id), MAX(checkpoint_id) FROM checkpoints"
            " WHERE checkpoint_ns = '' AND thread_id NOT IN (SELECT thread_id FROM app_threads)"
            " GROUP BY thread_id ORDER BY thread_id"
        )
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    def save_partial(self, thread_id: str, text: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO app_partial_replies (thread_id, text, updated_at)"
                " VALUES (?, ?, ?)",
                (thread_id, text, time.time()),
            )

    def stamp(self, user_id: str) -> tuple[int, float]:
        """Changes whenever a thread is added, removed or touched (cheap, indexed)."""
        r = self.conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM app_threads WHERE user_id = ?",
            (user_id,),
        ).fetchone()
        return (int(r[0]), float(r[1]))

    def note(self, thread_id: str, checkpoint_id: str) -> tuple[str, str] | None:
        """The timeline label of one checkpoint: (kind, summary)."""
        r = self.conn.execute(
            "SELECT kind, summary FROM app_notes WHERE thread_id = ? AND checkpoint_id = ?",
            (thread_id, checkpoint_id),
        ).fetchone()
        return (str(r[0]), str(r[1])) if r else None

    def partial(self, thread_id: str) -> str:
        r = self.conn.execute(
            "SELECT text FROM app_partial_replies WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        return str(r[0]) if r else ""

    def checkpoints(self, thread_id: str, newest: int | None = None) -> list[CheckpointInfo]:
        """Checkpoints of the thread (all, or the ``newest`` few) from metadata
        and notes, oldest first."""
        sql = (
            "SELECT c.checkpoint_id, c.parent_checkpoint_id, c.metadata, n.kind, n.summary,"
            " n.profile_updated, u.input_tokens, u.output_tokens FROM checkpoints c"
            " LEFT JOIN app_notes n"
            " ON n.thread_id = c.thread_id AND n.checkpoint_id = c.checkpoint_id"
            " LEFT JOIN app_usage u"
            " ON u.thread_id = c.thread_id AND u.checkpoint_id = c.checkpoint_id"
            " WHERE c.thread_id = ? AND c.checkpoint_ns = ''"
        )
        if newest is None:
            rows = self.conn.execute(sql + " ORDER BY c.checkpoint_id", (thread_id,)).fetchall()
        else:
            rows = self.conn.execute(
                sql + " ORDER BY c.checkpoint_id DESC LIMIT ?", (thread_id, newest)
            ).fetchall()[::-1]
        out: list[CheckpointInfo] = []
        for cid, parent, meta_blob, kind, summary, prof, tokens_in, tokens_out in rows:
            try:
                meta = json.loads(meta_blob) if meta_blob else {}
            except (ValueError, TypeError):
                meta = {}
            step = meta.get("step", 0)
            out.append(
                CheckpointInfo(
                    id=cid,
                    parent_id=parent,
                    step=step if isinstance(step, int) else 0,
                    source=str(meta.get("source", "")),
                    created_at=uuid6_time(cid),
                    kind=kind or "",
                    summary=summary or "",
                    profile_updated=bool(prof),
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                )
            )
        return out

    def newest_checkpoint(self, thread_id: str) -> str | None:
        r = self.conn.execute(
            "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''",
            (thread_id,),
        ).fetchone()
        return str(r[0]) if r and r[0] else None

    def chosen_head(self, thread_id: str) -> str | None:
        """The checkpoint the person chose to continue from (another branch's
        end); None: the newest checkpoint is the head."""
        r = self.conn.execute(
            "SELECT checkpoint_id FROM app_heads WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        return str(r[0]) if r else None

    def choose_head(self, thread_id: str, checkpoint_id: str | None) -> None:
        """Show ``checkpoint_id``'s branch; None: the newest again (after a write)."""
        with self._tx() as c:
            if checkpoint_id is None:
                c.execute("DELETE FROM app_heads WHERE thread_id = ?", (thread_id,))
            else:
                c.execute(
                    "INSERT OR REPLACE INTO app_heads (thread_id, checkpoint_id) VALUES (?, ?)",
                    (thread_id, checkpoint_id),
                )

    def delete(self, thread_id: str) -> None:
        with self._tx() as c:
            for table in APP_TABLES:
                c.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
