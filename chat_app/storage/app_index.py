"""What the backends' indexes share: the app's own tables beside LangGraph's
(threads, search text, timeline notes, token usage, partial replies, chosen
heads) and the statements that read and write them.

:class:`AppIndex` holds every statement the backends run alike, written once
with ``?`` placeholders; a backend's index (``sqlite.index.ThreadIndex``,
``postgres.index.PgThreadIndex``) says how a statement runs there (its
connection, transactions and placeholders) and spells the few things its SQL
spells differently (an upsert, booleans, case-insensitive LIKE, metadata).
Every value reaches SQL as a parameter.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from chat_app.service.events import CheckpointInfo, ThreadInfo

# The app's own tables, each keyed by thread: what deleting a thread clears.
APP_TABLES = (
    "app_threads",
    "app_messages",
    "app_notes",
    "app_usage",
    "app_heads",
    "app_partial_replies",
)


def uuid6_time(checkpoint_id: str) -> float:
    """Unix time encoded in a LangGraph (uuid6) checkpoint id; 0.0 if not one."""
    # Parsed by hand: uuid.UUID() was a third of the history listing's time.
    digits = checkpoint_id.replace("-", "")
    # Version nibble 6 and the RFC 4122 variant (uuid.UUID.version is None otherwise).
    if len(digits) != 32 or digits[12] != "6" or digits[16] not in "89abAB":
        return 0.0
    try:
        h = int(digits, 16)
    except ValueError:
        return 0.0
    time_high = h >> 96
    time_mid = (h >> 80) & 0xFFFF
    time_low = (h >> 64) & 0x0FFF
    ticks = (time_high << 28) | (time_mid << 12) | time_low
    return (ticks - 0x01B21DD213814000) / 1e7


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AppIndex:
    """The app's tables, as both backends read and write them."""

    _COLS = "thread_id, title, created_at, updated_at, message_count, run_state"
    # How the backend's SQL spells these.
    _TRUE = "1"
    _FALSE = "0"
    _LIKE = "LIKE"
    # The checkpoint metadata columns :meth:`_step_source` reads.
    _META_COLS = "c.metadata"

    # -- what a backend provides ----------------------------------------------

    def _tx(self) -> AbstractContextManager[Any]:
        """A connection inside a write transaction (or the caller's open one)."""
        raise NotImplementedError

    def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        raise NotImplementedError

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _run(self, conn: Any, sql: str, args: tuple[Any, ...]) -> None:
        """One statement on the connection :meth:`_tx` gave."""
        raise NotImplementedError

    def _run_many(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _upsert(
        self, table: str, cols: tuple[str, ...], key: tuple[str, ...], reset: tuple[str, ...] = ()
    ) -> str:
        """INSERT of ``cols`` that replaces the row with the same ``key``, whose
        other columns (``reset``) go back to their defaults."""
        raise NotImplementedError

    def _step_source(self, row: dict[str, Any]) -> tuple[int, str]:
        """A checkpoint's step and source, from the columns of ``_META_COLS``."""
        raise NotImplementedError

    @staticmethod
    def _text(text: str) -> str:
        """Text as the backend can store it."""
        return text

    # -- threads ----------------------------------------------------------------

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
        now = time.time()
        tid = thread_id or str(uuid.uuid4())
        title = self._text(title)
        with self._tx() as c:
            self._run(
                c,
                "INSERT INTO app_threads (thread_id, user_id, title, title_locked, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (tid, user_id, title, bool(title), now, now),
            )
        return ThreadInfo(tid, title, now, now, 0)

    def get(self, user_id: str, thread_id: str) -> ThreadInfo | None:
        r = self._one(
            f"SELECT {self._COLS} FROM app_threads WHERE thread_id = ? AND user_id = ?",
            (thread_id, user_id),
        )
        return self._row(r) if r else None

    def owner(self, thread_id: str) -> str | None:
        r = self._one("SELECT user_id FROM app_threads WHERE thread_id = ?", (thread_id,))
        return str(r["user_id"]) if r else None

    def list_threads(
        self, user_id: str, limit: int | None = None, query: str = ""
    ) -> list[ThreadInfo]:
        args: list[Any] = [user_id]
        sql = f"SELECT {self._COLS} FROM app_threads WHERE user_id = ?"
        if query:
            pattern = f"%{escape_like(self._text(query))}%"
            like = self._LIKE
            sql += (
                f" AND (title {like} ? ESCAPE '\\' OR thread_id IN (SELECT thread_id FROM"
                f" app_messages WHERE text {like} ? ESCAPE '\\'))"
            )
            args += [pattern, pattern]
        sql += " ORDER BY updated_at DESC, thread_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._row(r) for r in self._all(sql, args)]

    def rename(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            self._run(
                c,
                f"UPDATE app_threads SET title = ?, title_locked = {self._TRUE}, updated_at = ?"
                " WHERE thread_id = ?",
                (self._text(title), time.time(), thread_id),
            )

    def set_auto_title(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            self._run(
                c,
                "UPDATE app_threads SET title = ? WHERE thread_id = ?"
                f" AND title_locked = {self._FALSE} AND title = ''",
                (self._text(title), thread_id),
            )

    def set_run_state(self, thread_id: str, state: str) -> None:
        with self._tx() as c:
            self._run(
                c,
                "UPDATE app_threads SET run_state = ?, updated_at = ? WHERE thread_id = ?",
                (state, time.time(), thread_id),
            )

    def is_running(self, thread_id: str) -> bool:
        r = self._one("SELECT run_state FROM app_threads WHERE thread_id = ?", (thread_id,))
        return bool(r and r["run_state"] == "running")

    def running(self, user_id: str | None = None) -> list[str]:
        if user_id is None:
            rows = self._all("SELECT thread_id FROM app_threads WHERE run_state = 'running'", ())
        else:
            rows = self._all(
                "SELECT thread_id FROM app_threads WHERE run_state = 'running' AND user_id = ?",
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
        token usage (checkpoint, in, out), run finished."""
        text = self._text
        msg_rows = [(thread_id, mid, role, text(t)) for mid, role, t in messages]
        note_rows = [(thread_id, cid, kind, text(s), bool(p)) for cid, kind, s, p in notes]
        with self._tx() as c:
            self._run(
                c,
                "UPDATE app_threads SET message_count = ?, updated_at = ?, run_state = 'idle'"
                " WHERE thread_id = ?",
                (message_count, time.time(), thread_id),
            )
            cols: tuple[str, ...]
            if msg_rows:
                cols = ("thread_id", "message_id", "role", "text")
                sql = self._upsert("app_messages", cols, ("thread_id", "message_id"))
                self._run_many(c, sql, msg_rows)
            if note_rows:
                cols = ("thread_id", "checkpoint_id", "kind", "summary", "profile_updated")
                sql = self._upsert("app_notes", cols, ("thread_id", "checkpoint_id"))
                self._run_many(c, sql, note_rows)
            if usage is not None:
                cols = ("thread_id", "checkpoint_id", "input_tokens", "output_tokens")
                sql = self._upsert("app_usage", cols, ("thread_id", "checkpoint_id"))
                self._run(c, sql, (thread_id, *usage))
            self._run(c, "DELETE FROM app_partial_replies WHERE thread_id = ?", (thread_id,))

    def add_note(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> None:
        # The whole row is replaced: profile_updated goes back to false.
        sql = self._upsert(
            "app_notes",
            ("thread_id", "checkpoint_id", "kind", "summary"),
            ("thread_id", "checkpoint_id"),
            reset=("profile_updated",),
        )
        with self._tx() as c:
            self._run(c, sql, (thread_id, checkpoint_id, kind, self._text(summary)))

    def set_count(self, thread_id: str, message_count: int) -> None:
        with self._tx() as c:
            self._run(
                c,
                "UPDATE app_threads SET message_count = ?, updated_at = ? WHERE thread_id = ?",
                (message_count, time.time(), thread_id),
            )

    def set_times(self, thread_id: str, created_at: float, updated_at: float) -> None:
        with self._tx() as c:
            self._run(
                c,
                "UPDATE app_threads SET created_at = ?, updated_at = ? WHERE thread_id = ?",
                (created_at, updated_at, thread_id),
            )

    def unindexed(self) -> list[tuple[str, str, str]]:
        rows = self._all(
            "SELECT thread_id, MIN(checkpoint_id) AS first_id, MAX(checkpoint_id) AS last_id"
            " FROM checkpoints WHERE checkpoint_ns = '' AND thread_id NOT IN"
            " (SELECT thread_id FROM app_threads) GROUP BY thread_id ORDER BY thread_id",
            (),
        )
        return [(str(r["thread_id"]), str(r["first_id"]), str(r["last_id"])) for r in rows]

    def save_partial(self, thread_id: str, text: str) -> None:
        sql = self._upsert(
            "app_partial_replies", ("thread_id", "text", "updated_at"), ("thread_id",)
        )
        with self._tx() as c:
            self._run(c, sql, (thread_id, self._text(text), time.time()))

    def partial(self, thread_id: str) -> str:
        r = self._one("SELECT text FROM app_partial_replies WHERE thread_id = ?", (thread_id,))
        return str(r["text"]) if r else ""

    def stamp(self, user_id: str) -> tuple[int, float]:
        """Changes whenever a thread is added, removed or touched (cheap, indexed)."""
        r = self._one(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS t FROM app_threads"
            " WHERE user_id = ?",
            (user_id,),
        )
        return (int(r["n"]), float(r["t"])) if r else (0, 0.0)

    def note(self, thread_id: str, checkpoint_id: str) -> tuple[str, str] | None:
        """The timeline label of one checkpoint: (kind, summary)."""
        r = self._one(
            "SELECT kind, summary FROM app_notes WHERE thread_id = ? AND checkpoint_id = ?",
            (thread_id, checkpoint_id),
        )
        return (str(r["kind"]), str(r["summary"])) if r else None

    # -- checkpoints ----------------------------------------------------------

    def checkpoints(self, thread_id: str, newest: int | None = None) -> list[CheckpointInfo]:
        """Checkpoints of the thread (all, or the ``newest`` few) from the saver's
        metadata and the notes, oldest first; no state is deserialized."""
        sql = (
            f"SELECT c.checkpoint_id, c.parent_checkpoint_id, {self._META_COLS},"
            " n.kind, n.summary, n.profile_updated, u.input_tokens, u.output_tokens"
            " FROM checkpoints c LEFT JOIN app_notes n"
            " ON n.thread_id = c.thread_id AND n.checkpoint_id = c.checkpoint_id"
            " LEFT JOIN app_usage u"
            " ON u.thread_id = c.thread_id AND u.checkpoint_id = c.checkpoint_id"
            " WHERE c.thread_id = ? AND c.checkpoint_ns = ''"
        )
        if newest is None:
            rows = self._all(sql + " ORDER BY c.checkpoint_id", (thread_id,))
        else:
            rows = self._all(sql + " ORDER BY c.checkpoint_id DESC LIMIT ?", (thread_id, newest))
            rows.reverse()
        out: list[CheckpointInfo] = []
        for r in rows:
            step, source = self._step_source(r)
            cid = r["checkpoint_id"]
            out.append(
                CheckpointInfo(
                    id=cid,
                    parent_id=r["parent_checkpoint_id"],
                    step=step,
                    source=source,
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
            "SELECT MAX(checkpoint_id) AS newest FROM checkpoints WHERE thread_id = ?"
            " AND checkpoint_ns = ''",
            (thread_id,),
        )
        return str(r["newest"]) if r and r["newest"] else None

    def chosen_head(self, thread_id: str) -> str | None:
        """The checkpoint the person chose to continue from (another branch's
        end); None: the newest checkpoint is the head."""
        r = self._one("SELECT checkpoint_id FROM app_heads WHERE thread_id = ?", (thread_id,))
        return str(r["checkpoint_id"]) if r else None

    def choose_head(self, thread_id: str, checkpoint_id: str | None) -> None:
        """Show ``checkpoint_id``'s branch; None: the newest again (after a write)."""
        with self._tx() as c:
            if checkpoint_id is None:
                self._run(c, "DELETE FROM app_heads WHERE thread_id = ?", (thread_id,))
            else:
                sql = self._upsert("app_heads", ("thread_id", "checkpoint_id"), ("thread_id",))
                self._run(c, sql, (thread_id, checkpoint_id))

    def delete(self, thread_id: str) -> None:
        with self._tx() as c:
            for table in APP_TABLES:
                self._run(c, f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
