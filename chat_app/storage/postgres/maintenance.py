"""Storage upkeep on PostgreSQL: the same retention (prune) as on SQLite.

langgraph-checkpoint-postgres keeps a thread in three tables:

- ``checkpoints``: one row per checkpoint; its ``checkpoint -> channel_versions``
  names, per channel, the version of the value it holds;
- ``checkpoint_blobs``: the non-primitive channel values, one row per
  ``(thread, namespace, channel, version)``, *shared* by every checkpoint whose
  ``channel_versions`` names that version (a fork starts with its parent's);
- ``checkpoint_writes``: the pending writes of a checkpoint (and, for the
  message delta channel, the deltas a reader replays along the ancestors).

Dropping checkpoints therefore deletes their rows and writes, and only those
blobs that no kept checkpoint of the thread still names. The kept set is
closed under "parent of" (see :mod:`chat_app.storage.upkeep`), so every
ancestor a reader walks, with its writes and its snapshot blob, stays.

No VACUUM is run: PostgreSQL's autovacuum makes the freed space reusable,
and ``VACUUM FULL`` would lock the tables for every instance.

Callers hold the thread's writer lock, so no run saves to the thread meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from chat_app.storage.app_index import APP_TABLES
from chat_app.storage.upkeep import ThreadSize

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

# The tables the app needs: the saver's, the store's and its own.
SAVER_TABLES = ("checkpoint_migrations", "checkpoints", "checkpoint_blobs", "checkpoint_writes")
STORE_TABLES = ("store_migrations", "store")
ALL_TABLES = SAVER_TABLES + STORE_TABLES + APP_TABLES

_VERSIONS_SQL = (
    "SELECT checkpoint_id, checkpoint -> 'channel_versions' AS versions FROM checkpoints"
    " WHERE thread_id = %s AND checkpoint_ns = ''"
)


def _rows(conn: psycopg.Connection[Any], sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        # Unprepared: the planner sees the arrays (as langgraph's own prune does).
        cur.execute(sql, args, prepare=False)
        return list(cur.fetchall())


def _pairs(versions: Any) -> Iterator[tuple[str, str]]:
    if isinstance(versions, dict):
        for channel, version in versions.items():
            yield str(channel), str(version)


def garbage_blobs(
    conn: psycopg.Connection[Any], thread_id: str, drop: Iterable[str]
) -> dict[str, list[str]]:
    """Blob versions, by channel, that only the ``drop`` checkpoints name."""
    drop_set = set(drop)
    kept: set[tuple[str, str]] = set()
    freed: set[tuple[str, str]] = set()
    for r in _rows(conn, _VERSIONS_SQL, (thread_id,)):
        (freed if r["checkpoint_id"] in drop_set else kept).update(_pairs(r["versions"]))
    out: dict[str, list[str]] = {}
    for channel, version in sorted(freed - kept):
        out.setdefault(channel, []).append(version)
    return out


def edges(conn: psycopg.Connection[Any], thread_id: str) -> dict[str, str | None]:
    rows = _rows(
        conn,
        "SELECT checkpoint_id, parent_checkpoint_id FROM checkpoints"
        " WHERE thread_id = %s AND checkpoint_ns = ''",
        (thread_id,),
    )
    out: dict[str, str | None] = {}
    for r in rows:
        p = r["parent_checkpoint_id"]
        out[str(r["checkpoint_id"])] = str(p) if p else None
    return out


def bytes_of(conn: psycopg.Connection[Any], thread_id: str, ids: list[str]) -> int:
    """Bytes the checkpoints ``ids`` free: rows, writes and blobs only they use."""
    r = _rows(
        conn,
        "SELECT COALESCE(SUM(pg_column_size(checkpoint) + pg_column_size(metadata)), 0) AS n"
        " FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = '' AND checkpoint_id = ANY(%s)",
        (thread_id, ids),
    )
    w = _rows(
        conn,
        "SELECT COALESCE(SUM(pg_column_size(blob)), 0) AS n FROM checkpoint_writes"
        " WHERE thread_id = %s AND checkpoint_ns = '' AND checkpoint_id = ANY(%s)",
        (thread_id, ids),
    )
    total = int(r[0]["n"]) + int(w[0]["n"])
    for channel, versions in garbage_blobs(conn, thread_id, ids).items():
        b = _rows(
            conn,
            "SELECT COALESCE(SUM(pg_column_size(blob)), 0) AS n FROM checkpoint_blobs"
            " WHERE thread_id = %s AND checkpoint_ns = '' AND channel = %s AND version = ANY(%s)",
            (thread_id, channel, versions),
        )
        total += int(b[0]["n"])
    return total


def delete_checkpoints(conn: psycopg.Connection[Any], thread_id: str, ids: list[str]) -> None:
    """Delete the checkpoints, their writes, the blobs only they name and their
    notes, in one transaction."""
    if not ids:
        return
    with conn.transaction():
        garbage = garbage_blobs(conn, thread_id, ids)
        for table in ("checkpoint_writes", "checkpoints"):
            conn.execute(
                f"DELETE FROM {table} WHERE thread_id = %s AND checkpoint_ns = ''"
                " AND checkpoint_id = ANY(%s)",
                (thread_id, ids),
                prepare=False,
            )
        for channel, versions in garbage.items():
            conn.execute(
                "DELETE FROM checkpoint_blobs WHERE thread_id = %s AND checkpoint_ns = ''"
                " AND channel = %s AND version = ANY(%s)",
                (thread_id, channel, versions),
                prepare=False,
            )
        for table in ("app_notes", "app_usage"):
            conn.execute(
                f"DELETE FROM {table} WHERE thread_id = %s AND checkpoint_id = ANY(%s)",
                (thread_id, ids),
                prepare=False,
            )


def thread_sizes(conn: psycopg.Connection[Any]) -> list[ThreadSize]:
    """Bytes of checkpoints + blobs + writes per thread (``pg_column_size``), largest first."""
    rows = _rows(
        conn,
        "SELECT c.thread_id, c.n, c.bytes + COALESCE(b.bytes, 0) + COALESCE(w.bytes, 0) AS bytes"
        " FROM (SELECT thread_id, COUNT(*) AS n,"
        "   SUM(pg_column_size(checkpoint) + pg_column_size(metadata)) AS bytes"
        "   FROM checkpoints GROUP BY thread_id) c"
        " LEFT JOIN (SELECT thread_id, SUM(COALESCE(pg_column_size(blob), 0)) AS bytes"
        "   FROM checkpoint_blobs GROUP BY thread_id) b ON b.thread_id = c.thread_id"
        " LEFT JOIN (SELECT thread_id, SUM(pg_column_size(blob)) AS bytes"
        "   FROM checkpoint_writes GROUP BY thread_id) w ON w.thread_id = c.thread_id",
        (),
    )
    out = [ThreadSize(str(r["thread_id"]), int(r["n"]), int(r["bytes"])) for r in rows]
    return sorted(out, key=lambda s: (-s.bytes, s.thread_id))


def present_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Which of the app's tables exist (on the connection's search_path)."""
    rows = _rows(
        conn,
        "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
        (list(ALL_TABLES),),
    )
    return [str(r["t"]) for r in rows]


def tables_bytes(conn: psycopg.Connection[Any]) -> int:
    """On-disk size of the app's tables with their indexes and TOAST."""
    rows = _rows(
        conn,
        "SELECT COALESCE(SUM(pg_total_relation_size(to_regclass(t))), 0) AS n"
        " FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
        (list(ALL_TABLES),),
    )
    return int(rows[0]["n"])


class PgUpkeep:
    """:class:`chat_app.storage.upkeep.Upkeep` on a PostgreSQL backend's pool."""

    compacts = False

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        with self.pool.connection() as conn:
            yield conn

    def edges(self, thread_id: str) -> dict[str, str | None]:
        with self._conn() as c:
            return edges(c, thread_id)

    def bytes_of(self, thread_id: str, ids: list[str]) -> int:
        with self._conn() as c:
            return bytes_of(c, thread_id, ids)

    def delete(self, thread_id: str, ids: list[str]) -> None:
        with self._conn() as c:
            delete_checkpoints(c, thread_id, ids)

    def sizes(self) -> list[ThreadSize]:
        with self._conn() as c:
            return thread_sizes(c)

    def total_bytes(self) -> int:
        with self._conn() as c:
            return tables_bytes(c)

    def compact(self) -> None:
        """Nothing to do: autovacuum makes the freed space reusable."""
