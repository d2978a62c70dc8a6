"""``chat-app migrate --to postgresql://...``: move a SQLite database to PostgreSQL.

Copied, for every thread of every user:

- every checkpoint (all branches: each row keeps its id, parent id and
  metadata), through ``PostgresSaver.put`` so the state is laid out the way
  PostgreSQL stores it;
- every pending write, row for row (both backends use the same serializer,
  so the serialized values are copied as they are, with their task path and
  index);
- the app's rows: threads, search text, timeline notes, partial replies;

and every profile item of the store. Then it verifies: per thread the same
checkpoints, pending writes and app rows, and the same messages in the
latest state.

Each thread is copied in one PostgreSQL transaction, so a migration stopped
at any point leaves every thread copied whole or not at all. Running it
again is safe: threads already copied whole (same checkpoints, pending writes
and app rows) are skipped, any other is copied again (every row is an
upsert), profile items already in the target are left alone. A
thread that exists in the target with checkpoints the source does not have
(it was used there since) is refused, and nothing is copied.
Stop the instances that use the SQLite database first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import CheckpointMetadata

from chat_app.storage.errors import StorageError
from chat_app.storage.postgres.backend import PgBackend, open_pg
from chat_app.storage.sqlite.backend import DB_NAME, SqliteBackend, open_sqlite_backend
from graphs.facts import PROFILE_ROOT, profile_owner

if TYPE_CHECKING:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    from chat_app.config import Settings


Step = Callable[[str], None]


class MigrationError(Exception):
    """The migration cannot proceed or did not verify; one line for the person."""


@dataclass
class MigrationReport:
    threads_copied: int = 0
    threads_skipped: int = 0
    checkpoints: int = 0
    writes: int = 0
    profile_items: int = 0
    users: set[str] = field(default_factory=set)

    def summary(self, target: str) -> str:
        return (
            f"migrated {self.threads_copied} threads ({self.checkpoints} checkpoints,"
            f" {self.writes} writes) and {self.profile_items} profile items of"
            f" {len(self.users)} users to {target}; {self.threads_skipped} threads were"
            " already there; verified: checkpoints, writes, app rows and latest states are equal"
        )


def _src_threads(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT thread_id FROM app_threads UNION SELECT DISTINCT thread_id FROM checkpoints"
        " ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


@dataclass(frozen=True)
class _Inventory:
    """What a thread's copy consists of, on either side: its checkpoints and
    pending writes by key, and how many rows it has in each app table."""

    checkpoints: frozenset[tuple[str, str]]
    writes: frozenset[tuple[str, str, str, int]]
    app_rows: tuple[int, ...]


_APP_TABLES = (
    "app_threads",
    "app_messages",
    "app_notes",
    "app_partial_replies",
    "app_usage",
    "app_heads",
)
Fetch = Callable[[str, tuple[str]], list[tuple[Any, ...]]]


def _inventory(fetch: Fetch, writes_table: str, tid: str) -> _Inventory:
    """``fetch(sql, (tid,))`` with ``{}`` as the placeholder (SQLite and PostgreSQL alike)."""
    cps = fetch("SELECT checkpoint_ns, checkpoint_id FROM checkpoints WHERE thread_id = {}", (tid,))
    writes = fetch(
        f"SELECT checkpoint_ns, checkpoint_id, task_id, idx FROM {writes_table}"
        " WHERE thread_id = {}",
        (tid,),
    )
    counts = [
        fetch(f"SELECT count(*) FROM {table} WHERE thread_id = {{}}", (tid,))[0][0]
        for table in _APP_TABLES
    ]
    return _Inventory(
        frozenset((str(ns), str(cid)) for ns, cid in cps),
        frozenset((str(ns), str(cid), str(task), int(idx)) for ns, cid, task, idx in writes),
        tuple(int(n) for n in counts),
    )


def _src_inventory(conn: sqlite3.Connection, tid: str) -> _Inventory:
    return _inventory(
        lambda sql, args: conn.execute(sql.format("?"), args).fetchall(), "writes", tid
    )


def _dst_inventory(dst: PgBackend, tid: str) -> _Inventory:
    from psycopg.rows import tuple_row

    with dst.pool.connection() as c, c.cursor(row_factory=tuple_row) as cur:

        def fetch(sql: str, args: tuple[str]) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = cur.execute(sql.format("%s"), args).fetchall()
            return rows

        return _inventory(fetch, "checkpoint_writes", tid)


def _copy_thread(
    src: SqliteBackend, dst: PgBackend, conn: sqlite3.Connection, tid: str, step: Step
) -> tuple[int, int, str | None]:
    """Checkpoints, pending writes and app rows of one thread, in one PostgreSQL
    transaction: a migration stopped anywhere leaves all of the thread or none
    of it. Every row is an upsert, so the copy also completes one cut short
    by an older version (which copied step by step)."""
    with dst.one_transaction() as (saver, index), index.connection() as c:
        checkpoints = _copy_checkpoints(src, saver, conn, tid, step)
        with c.cursor() as cur:
            writes = _copy_writes(saver, cur, conn, tid)
            step(f"{tid} writes")
            user = _copy_app_rows(cur, conn, tid)
            step(f"{tid} app rows")
    step(f"{tid} committed")
    return checkpoints, writes, user


def _copy_checkpoints(
    src: SqliteBackend, saver: PostgresSaver, conn: sqlite3.Connection, tid: str, step: Step
) -> int:
    rows = conn.execute(
        "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"
        " FROM checkpoints WHERE thread_id = ? ORDER BY checkpoint_ns, checkpoint_id",
        (tid,),
    ).fetchall()
    for ns, cid, parent, typ, blob, meta in rows:
        checkpoint = src.saver.serde.loads_typed((typ, blob))
        metadata: CheckpointMetadata = json.loads(meta) if meta else {}
        conf: dict[str, Any] = {"thread_id": tid, "checkpoint_ns": ns}
        if parent:
            conf["checkpoint_id"] = parent
        saved = saver.put(
            {"configurable": conf}, checkpoint, metadata, dict(checkpoint["channel_versions"])
        )
        if saved["configurable"]["checkpoint_id"] != cid:
            raise MigrationError(f"thread {tid}: checkpoint {cid} was not copied under its id")
        step(f"{tid} checkpoint {cid}")
    return len(rows)


def _copy_writes(
    saver: PostgresSaver, cur: psycopg.Cursor[Any], conn: sqlite3.Connection, tid: str
) -> int:
    rows = conn.execute(
        "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel,"
        " type, value FROM writes WHERE thread_id = ?",
        (tid,),
    ).fetchall()
    if rows:
        cur.executemany(saver.UPSERT_CHECKPOINT_WRITES_SQL, rows)
    return len(rows)


def _copy_app_rows(cur: psycopg.Cursor[Any], conn: sqlite3.Connection, tid: str) -> str | None:
    thread = conn.execute(
        "SELECT thread_id, user_id, title, title_locked, created_at, updated_at, message_count,"
        " run_state FROM app_threads WHERE thread_id = ?",
        (tid,),
    ).fetchone()
    messages = conn.execute(
        "SELECT thread_id, message_id, role, text FROM app_messages WHERE thread_id = ?", (tid,)
    ).fetchall()
    notes = conn.execute(
        "SELECT thread_id, checkpoint_id, kind, summary, profile_updated FROM app_notes"
        " WHERE thread_id = ?",
        (tid,),
    ).fetchall()
    partial = conn.execute(
        "SELECT thread_id, text, updated_at FROM app_partial_replies WHERE thread_id = ?", (tid,)
    ).fetchall()
    if thread is not None:
        t = list(thread)
        t[3] = bool(t[3])
        cur.execute(
            "INSERT INTO app_threads (thread_id, user_id, title, title_locked, created_at,"
            " updated_at, message_count, run_state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (thread_id) DO UPDATE SET user_id = EXCLUDED.user_id,"
            " title = EXCLUDED.title, title_locked = EXCLUDED.title_locked,"
            " created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,"
            " message_count = EXCLUDED.message_count, run_state = EXCLUDED.run_state",
            t,
        )
    if messages:
        cur.executemany(
            "INSERT INTO app_messages (thread_id, message_id, role, text)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id, message_id) DO UPDATE SET"
            " role = EXCLUDED.role, text = EXCLUDED.text",
            [(a, b, r, x.replace("\x00", "\ufffd")) for a, b, r, x in messages],
        )
    if notes:
        cur.executemany(
            "INSERT INTO app_notes (thread_id, checkpoint_id, kind, summary, profile_updated)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (thread_id, checkpoint_id) DO UPDATE"
            " SET kind = EXCLUDED.kind, summary = EXCLUDED.summary,"
            " profile_updated = EXCLUDED.profile_updated",
            [(a, b, k, s, bool(p)) for a, b, k, s, p in notes],
        )
    if partial:
        cur.executemany(
            "INSERT INTO app_partial_replies (thread_id, text, updated_at) VALUES"
            " (%s, %s, %s) ON CONFLICT (thread_id) DO UPDATE SET text = EXCLUDED.text,"
            " updated_at = EXCLUDED.updated_at",
            partial,
        )
    usage = conn.execute(
        "SELECT thread_id, checkpoint_id, input_tokens, output_tokens FROM app_usage"
        " WHERE thread_id = ?",
        (tid,),
    ).fetchall()
    if usage:
        cur.executemany(
            "INSERT INTO app_usage (thread_id, checkpoint_id, input_tokens, output_tokens)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id, checkpoint_id) DO UPDATE SET"
            " input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens",
            usage,
        )
    # The branch the person chose to look at (History's branch switch).
    head = conn.execute(
        "SELECT thread_id, checkpoint_id FROM app_heads WHERE thread_id = ?", (tid,)
    ).fetchone()
    if head is not None:
        cur.execute(
            "INSERT INTO app_heads (thread_id, checkpoint_id) VALUES (%s, %s)"
            " ON CONFLICT (thread_id) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id",
            head,
        )
    return str(thread[1]) if thread is not None else None


def _copy_store(src: SqliteBackend, dst: PgBackend, step: Step) -> int:
    copied = 0
    for ns in src.store.list_namespaces(limit=1_000_000):
        offset = 0
        while True:
            items = src.store.search(ns, limit=500, offset=offset)
            if not items:
                break
            offset += len(items)
            for item in items:
                if tuple(item.namespace) != tuple(ns):
                    continue
                if dst.store.get(ns, item.key) is None:
                    dst.store.put(ns, item.key, item.value)
                    copied += 1
                    step(f"profile item {item.key}")
    return copied


def _latest_messages(graph: Any, tid: str) -> list[tuple[str, str, str]]:
    snap = graph.get_state({"configurable": {"thread_id": tid}})
    msgs = (snap.values or {}).get("messages", [])
    return [(m.type, str(m.id), json.dumps(m.content, sort_keys=True)) for m in msgs]


def _graphs(src: SqliteBackend, dst: PgBackend) -> tuple[Any, Any]:
    from graphs.graph import build_graph
    from graphs.models import make_offline_model

    builder = build_graph(make_offline_model(0.0, None), None)
    return (
        builder.compile(checkpointer=src.saver, store=src.store),
        builder.compile(checkpointer=dst.saver, store=dst.store),
    )


def migrate(
    data_dir: Path,
    dsn: str,
    *,
    busy_timeout_s: float = 30.0,
    progress: Callable[[str], None] = lambda _msg: None,
    step: Step = lambda _where: None,
) -> MigrationReport:
    """Copy the SQLite database under ``data_dir`` into the database at ``dsn``.

    ``step`` is called at every boundary between two writes (the fault
    injection of the crash tests stops the process there)."""
    if not (data_dir / DB_NAME).is_file():
        raise MigrationError(f"{data_dir / DB_NAME}: no SQLite database to migrate")
    src = open_sqlite_backend(data_dir, busy_timeout_s)
    try:
        dst = open_pg(dsn)
    except StorageError:
        src.close()
        raise
    report = MigrationReport()
    try:
        conn = src.app_conn
        step("start")
        threads = _src_threads(conn)
        todo: list[str] = []
        conflicts: list[str] = []
        for tid in threads:
            have = _dst_inventory(dst, tid)
            want = _src_inventory(conn, tid)
            if have == want:
                report.threads_skipped += 1
            elif have.checkpoints - want.checkpoints:
                conflicts.append(tid)
            else:
                todo.append(tid)  # not there, or cut short: copied (again)
        if conflicts:
            raise MigrationError(
                f"{len(conflicts)} threads already exist in the target with checkpoints the"
                f" SQLite database does not have (e.g. {conflicts[0]}); nothing was copied"
            )
        for n, tid in enumerate(todo, 1):
            checkpoints, writes, user = _copy_thread(src, dst, conn, tid, step)
            report.checkpoints += checkpoints
            report.writes += writes
            if user:
                report.users.add(user)
            report.threads_copied += 1
            progress(f"copied thread {n}/{len(todo)}")
        report.profile_items = _copy_store(src, dst, step)
        owners = map(profile_owner, src.store.list_namespaces(prefix=(PROFILE_ROOT,)))
        report.users |= {user for user in owners if user is not None}
        _verify(src, dst, threads)
        return report
    finally:
        dst.close()
        src.close()


def _verify(src: SqliteBackend, dst: PgBackend, threads: list[str]) -> None:
    src_graph, dst_graph = _graphs(src, dst)
    for tid in threads:
        if _src_inventory(src.app_conn, tid) != _dst_inventory(dst, tid):
            raise MigrationError(
                f"thread {tid}: checkpoints, pending writes or app rows differ after the copy"
            )
        if _latest_messages(src_graph, tid) != _latest_messages(dst_graph, tid):
            raise MigrationError(f"thread {tid}: the latest state differs after the copy")


def run_migrate_command(settings: Settings, dsn: str) -> int:
    """``chat-app migrate --to DSN``: one summary line, or one error line."""
    import sys

    from chat_app.storage.postgres.connection import describe_dsn

    try:
        report = migrate(
            settings.data_dir,
            dsn,
            busy_timeout_s=settings.storage.busy_timeout_s,
            progress=lambda msg: print(f"chat-app: {msg}", file=sys.stderr),
        )
    except (MigrationError, StorageError) as exc:
        print(f"chat-app: migrate: {exc}", file=sys.stderr)
        return 1
    print(report.summary(describe_dsn(dsn)))
    return 0
