"""``chat-app upgrade-storage``: rewrite old compressed blobs in LangGraph's format.

Older versions of the app stored checkpoints and writes zlib-compressed
under type tags of their own (``zd1:msgpack``, ``z:msgpack``) that stock
LangGraph cannot read. The blob inside is exactly what LangGraph's serializer
wrote, so upgrading a blob is inflating it and dropping the prefix: nothing
is deserialized, and the stored value stays byte for byte what it was.

One transaction per thread: an interrupted run leaves every thread either
upgraded or as it was, and running it again finishes the rest. On SQLite the
``checkpoints`` table of those versions (WITHOUT ROWID, fine for small
compressed rows) is first rebuilt in SqliteSaver's own layout, in one
transaction: an uncompressed checkpoint would overflow each row onto a page
of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chat_app.storage.compression import COMPRESS_PREFIX, ZDICT_PREFIX, decompress
from chat_app.storage.sqlite.checkpoint_schema import CHECKPOINTS_SCHEMA

# (table, key columns, type column, blob column) per backend.
SQLITE_TABLES = (
    ("checkpoints", ("checkpoint_ns", "checkpoint_id"), "type", "checkpoint"),
    ("writes", ("checkpoint_ns", "checkpoint_id", "task_id", "idx"), "type", "value"),
)
PG_TABLES = (
    ("checkpoint_blobs", ("checkpoint_ns", "channel", "version"), "type", "blob"),
    ("checkpoint_writes", ("checkpoint_ns", "checkpoint_id", "task_id", "idx"), "type", "blob"),
)
_OLD = f"(type LIKE '{ZDICT_PREFIX}%' OR type LIKE '{COMPRESS_PREFIX}%')"


@dataclass
class UpgradeReport:
    threads: int = 0
    blobs: int = 0
    relaid: bool = False  # the checkpoints table was rebuilt in SqliteSaver's layout


def relay_checkpoints(conn: sqlite3.Connection) -> bool:
    """Rebuild a WITHOUT ROWID ``checkpoints`` table as SqliteSaver's (one transaction)."""
    row = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'checkpoints'").fetchone()
    if row is None or "WITHOUT ROWID" not in str(row[0]).upper():
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE checkpoints RENAME TO checkpoints_old_layout")
        conn.execute(CHECKPOINTS_SCHEMA)
        conn.execute("INSERT INTO checkpoints SELECT * FROM checkpoints_old_layout")
        conn.execute("DROP TABLE checkpoints_old_layout")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def _stock(rows: list[Any], tid: str) -> list[tuple[Any, ...]]:
    """UPDATE parameters (type, blob, thread id, key...) of rows read as (type, blob, key...)."""
    out = []
    for typ, blob, *key in rows:
        new_typ, raw = decompress(typ, bytes(blob))
        out.append((new_typ, raw, tid, *key))
    return out


def upgrade_sqlite(
    conn: sqlite3.Connection, on_thread: Callable[[str, int], None]
) -> UpgradeReport:
    """Upgrade every thread of an autocommit SQLite connection, one transaction each."""
    report = UpgradeReport(relaid=relay_checkpoints(conn))
    threads = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT thread_id FROM checkpoints WHERE {_OLD}"
            f" UNION SELECT DISTINCT thread_id FROM writes WHERE {_OLD}"
        )
    ]
    for tid in threads:
        n = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, keys, typ_col, blob_col in SQLITE_TABLES:
                cols = ", ".join(keys)
                rows = conn.execute(
                    f"SELECT {typ_col}, {blob_col}, {cols} FROM {table}"
                    f" WHERE thread_id = ? AND {_OLD}",
                    (tid,),
                ).fetchall()
                where = " AND ".join(f"{k} = ?" for k in keys)
                sql = (
                    f"UPDATE {table} SET {typ_col} = ?, {blob_col} = ?"
                    f" WHERE thread_id = ? AND {where}"
                )
                conn.executemany(sql, _stock(rows, tid))
                n += len(rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        report.threads += 1
        report.blobs += n
        on_thread(tid, n)
    return report


def upgrade_postgres(pool: Any, on_thread: Callable[[str, int], None]) -> UpgradeReport:
    """The same for PostgresSaver's blob tables (its checkpoints column is JSONB)."""
    from psycopg.rows import tuple_row

    report = UpgradeReport()
    with pool.connection() as conn:
        threads = [
            r["thread_id"] if isinstance(r, dict) else r[0]
            for r in conn.execute(
                f"SELECT DISTINCT thread_id FROM checkpoint_blobs WHERE {_OLD}"
                f" UNION SELECT DISTINCT thread_id FROM checkpoint_writes WHERE {_OLD}"
            ).fetchall()
        ]
    for tid in threads:
        n = 0
        with (
            pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            for table, keys, typ_col, blob_col in PG_TABLES:
                cols = ", ".join(keys)
                rows = cur.execute(
                    f"SELECT {typ_col}, {blob_col}, {cols} FROM {table}"
                    f" WHERE thread_id = %s AND {_OLD}",
                    (tid,),
                ).fetchall()
                where = " AND ".join(f"{k} = %s" for k in keys)
                sql = (
                    f"UPDATE {table} SET {typ_col} = %s, {blob_col} = %s"
                    f" WHERE thread_id = %s AND {where}"
                )
                cur.executemany(sql, _stock(rows, tid))
                n += len(rows)
        report.threads += 1
        report.blobs += n
        on_thread(tid, n)
    return report
