"""Upkeep of the SQLite file: the checkpoint graph, sizes, deletes and VACUUM
(the plan itself is shared: :mod:`chat_app.storage.upkeep`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from chat_app.storage.upkeep import ThreadPrune, ThreadSize, Upkeep
from chat_app.storage.upkeep import plan_thread as plan_with

if TYPE_CHECKING:
    from chat_app.config import RetentionSettings


def db_file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        p = Path(str(path) + suffix)
        if p.exists():
            total += p.stat().st_size
    return total


def _edges(conn: sqlite3.Connection, thread_id: str) -> dict[str, str | None]:
    rows = conn.execute(
        "SELECT checkpoint_id, parent_checkpoint_id FROM checkpoints"
        " WHERE thread_id = ? AND checkpoint_ns = ''",
        (thread_id,),
    ).fetchall()
    return {str(r[0]): (str(r[1]) if r[1] else None) for r in rows}


def _bytes_of(conn: sqlite3.Connection, thread_id: str, ids: list[str]) -> int:
    total = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        r = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints"
            f" WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id IN ({marks})",
            (thread_id, *chunk),
        ).fetchone()
        w = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes"
            f" WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id IN ({marks})",
            (thread_id, *chunk),
        ).fetchone()
        total += int(r[0]) + int(w[0])
    return total


def delete_checkpoints(conn: sqlite3.Connection, thread_id: str, ids: list[str]) -> None:
    """Delete the checkpoints, their writes and their notes, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for table in ("writes", "checkpoints", "app_notes", "app_usage"):
                ns = "" if table.startswith("app_") else " AND checkpoint_ns = ''"
                conn.execute(
                    f"DELETE FROM {table} WHERE thread_id = ?{ns} AND checkpoint_id IN ({marks})",
                    (thread_id, *chunk),
                )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def vacuum(conn: sqlite3.Connection) -> None:
    """Rebuild the file without the freed pages, and empty the WAL."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def thread_sizes(conn: sqlite3.Connection) -> list[ThreadSize]:
    """Bytes of checkpoints + writes per thread, largest first."""
    rows = conn.execute(
        "SELECT thread_id, COUNT(*), COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0)"
        " FROM checkpoints GROUP BY thread_id"
    ).fetchall()
    writes = dict(
        conn.execute(
            "SELECT thread_id, COALESCE(SUM(LENGTH(value)), 0) FROM writes GROUP BY thread_id"
        ).fetchall()
    )
    out = [ThreadSize(str(t), int(n), int(b) + int(writes.get(t, 0))) for t, n, b in rows]
    return sorted(out, key=lambda s: (-s.bytes, s.thread_id))


class SqliteUpkeep:
    compacts = True

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        self.conn = conn
        self.path = path

    def edges(self, thread_id: str) -> dict[str, str | None]:
        return _edges(self.conn, thread_id)

    def bytes_of(self, thread_id: str, ids: list[str]) -> int:
        return _bytes_of(self.conn, thread_id, ids)

    def delete(self, thread_id: str, ids: list[str]) -> None:
        delete_checkpoints(self.conn, thread_id, ids)

    def sizes(self) -> list[ThreadSize]:
        return thread_sizes(self.conn)

    def total_bytes(self) -> int:
        return db_file_bytes(self.path) if self.path is not None else 0

    def compact(self) -> None:
        vacuum(self.conn)


def plan_thread(
    conn: sqlite3.Connection | Upkeep,
    thread_id: str,
    policy: RetentionSettings,
    now: float | None = None,
    shown_head: str | None = None,
) -> ThreadPrune:
    """:func:`chat_app.storage.upkeep.plan_thread` on a SQLite connection or any Upkeep."""
    up = SqliteUpkeep(conn) if isinstance(conn, sqlite3.Connection) else conn
    return plan_with(up, thread_id, policy, now, shown_head)
