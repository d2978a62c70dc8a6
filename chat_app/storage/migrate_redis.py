"""``chat-app migrate --to redis://...``: move a SQLite database to Redis.

Copied, for every thread of every user, as the PostgreSQL migration does
(:mod:`chat_app.storage.migrate`):

- every checkpoint (all branches, each keeping its id, parent and metadata)
  through ``RedisSaver.put``, and every pending write through
  ``put_writes`` (task by task, in index order, so each keeps its task, path
  and index);
- the app's records: threads, search text, timeline notes, token usage,
  chosen heads, partial replies;

and every profile item of the store. Then it verifies: per thread the same
checkpoints, pending writes and app records, and the same messages in the
latest state.

Redis has no transaction spanning RedisSaver's writes and the app's, so a
thread is copied in this order: checkpoints, then pending writes, then its
app records in one MULTI/EXEC. Running it again is safe: a thread already
copied whole is skipped, any other is copied again (every write replaces
what it writes). A thread that has checkpoints in Redis that the SQLite
database does not have (it was used there since) is refused, and nothing is
copied. Stop the instances that use either side first. RedisSaver lists at
most 10,000 checkpoints of a thread: a longer thread does not verify.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chat_app.storage.errors import StorageError
from chat_app.storage.migrate import (
    MigrationError,
    MigrationReport,
    _Inventory,
    _latest_messages,
    _src_inventory,
    _src_threads,
)
from chat_app.storage.redis.backend import RedisBackend, describe_url, open_redis
from chat_app.storage.redis.index import P, key, user_key
from chat_app.storage.sqlite.backend import DB_NAME, SqliteBackend, open_sqlite_backend
from graphs.facts import PROFILE_ROOT, profile_owner

if TYPE_CHECKING:
    from langgraph.checkpoint.base import CheckpointMetadata

Step = Callable[[str], None]


def _ns_part(ns: str) -> str:
    return ns or "__empty__"


def _dst_inventory(dst: RedisBackend, tid: str) -> _Inventory:
    listed = dst.saver.list({"configurable": {"thread_id": tid}})
    cps = {
        (str(t.config["configurable"].get("checkpoint_ns", "")), str(t.checkpoint["id"]))
        for t in listed
    }
    pipe = dst.client.pipeline(transaction=False)
    ordered = sorted(cps)
    for ns, cid in ordered:
        pipe.zrange(f"write_keys_zset:{tid}:{_ns_part(ns)}:{cid}", 0, -1)
    writes = set()
    for (ns, cid), members in zip(ordered, pipe.execute(), strict=True):
        head = f"checkpoint_write:{tid}:{_ns_part(ns)}:{cid}:"
        for member in members:
            text = member.decode() if isinstance(member, bytes) else str(member)
            task, idx = text[len(head) :].rsplit(":", 1)
            writes.add((ns, cid, task, int(idx)))
    c = dst.text_client
    # In the order of migrate._APP_TABLES.
    counts = (
        int(c.exists(key("thread", tid))),
        int(c.hlen(key("msgs", tid))),
        int(c.hlen(key("notes", tid))),
        int(c.exists(key("partial", tid))),
        int(c.hlen(key("usage", tid))),
        int(c.exists(key("head", tid))),
    )
    return _Inventory(frozenset(cps), frozenset(writes), counts)


def _copy_checkpoints(
    src: SqliteBackend, dst: RedisBackend, conn: sqlite3.Connection, tid: str, step: Step
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
        saved = dst.saver.put(
            {"configurable": conf}, checkpoint, metadata, dict(checkpoint["channel_versions"])
        )
        if saved["configurable"]["checkpoint_id"] != cid:
            raise MigrationError(f"thread {tid}: checkpoint {cid} was not copied under its id")
        step(f"{tid} checkpoint {cid}")
    return len(rows)


def _copy_writes(src: SqliteBackend, dst: RedisBackend, conn: sqlite3.Connection, tid: str) -> int:
    rows = conn.execute(
        "SELECT checkpoint_ns, checkpoint_id, task_id, task_path, channel, type, value"
        " FROM writes WHERE thread_id = ? ORDER BY checkpoint_ns, checkpoint_id, task_id, idx",
        (tid,),
    ).fetchall()
    tasks: dict[tuple[str, str, str, str], list[tuple[str, Any]]] = {}
    for ns, cid, task, path, channel, typ, value in rows:
        decoded = src.saver.serde.loads_typed((typ, value))
        tasks.setdefault((ns, cid, task, path or ""), []).append((channel, decoded))
    for (ns, cid, task, path), writes in tasks.items():
        conf = {"thread_id": tid, "checkpoint_ns": ns, "checkpoint_id": cid}
        dst.saver.put_writes({"configurable": conf}, writes, task, path)
    return len(rows)


def _copy_app_rows(dst: RedisBackend, conn: sqlite3.Connection, tid: str) -> str | None:
    """The thread's app records in one MULTI/EXEC; the owner's id."""
    thread = conn.execute(
        "SELECT user_id, title, title_locked, created_at, updated_at, message_count, run_state"
        " FROM app_threads WHERE thread_id = ?",
        (tid,),
    ).fetchone()
    fetch = conn.execute
    messages = fetch("SELECT message_id, role, text FROM app_messages WHERE thread_id = ?", (tid,))
    notes = fetch(
        "SELECT checkpoint_id, kind, summary, profile_updated FROM app_notes WHERE thread_id = ?",
        (tid,),
    ).fetchall()
    usage = fetch(
        "SELECT checkpoint_id, input_tokens, output_tokens FROM app_usage WHERE thread_id = ?",
        (tid,),
    ).fetchall()
    head = fetch("SELECT checkpoint_id FROM app_heads WHERE thread_id = ?", (tid,)).fetchone()
    partial = fetch("SELECT text FROM app_partial_replies WHERE thread_id = ?", (tid,)).fetchone()
    pipe = dst.text_client.pipeline(transaction=True)
    for kind in ("msgs", "notes", "usage", "head", "partial"):
        pipe.delete(key(kind, tid))
    if thread is not None:
        user, title, locked, created, updated, count, state = thread
        pipe.hset(
            key("thread", tid),
            mapping={
                "user_id": user,
                "title": title,
                "title_locked": "1" if locked else "0",
                "created_at": repr(float(created)),
                "updated_at": repr(float(updated)),
                "message_count": int(count),
                "run_state": state,
            },
        )
        pipe.zadd(user_key(user), {tid: float(updated)})
        if state == "running":
            pipe.sadd(P + "running", tid)
    rows = {mid: json.dumps([role, text]) for mid, role, text in messages}
    if rows:
        pipe.hset(key("msgs", tid), mapping=rows)
    if notes:
        pipe.hset(
            key("notes", tid),
            mapping={c: json.dumps([k, s, bool(p)]) for c, k, s, p in notes},
        )
    if usage:
        pipe.hset(key("usage", tid), mapping={c: json.dumps([i, o]) for c, i, o in usage})
    if head is not None:
        pipe.set(key("head", tid), head[0])
    if partial is not None:
        pipe.set(key("partial", tid), partial[0])
    pipe.execute()
    return str(thread[0]) if thread is not None else None


def _copy_store(src: SqliteBackend, dst: RedisBackend, step: Step) -> int:
    copied = 0
    for ns in src.store.list_namespaces(limit=1_000_000):
        offset = 0
        while items := src.store.search(ns, limit=500, offset=offset):
            offset += len(items)
            for item in items:
                if tuple(item.namespace) == tuple(ns) and dst.store.get(ns, item.key) is None:
                    dst.store.put(ns, item.key, item.value)
                    copied += 1
                    step(f"profile item {item.key}")
    return copied


def _verify(src: SqliteBackend, dst: RedisBackend, threads: list[str]) -> None:
    from graphs.graph import build_graph
    from graphs.models import make_offline_model

    builder = build_graph(make_offline_model(0.0, None), None)
    src_graph = builder.compile(checkpointer=src.saver, store=src.store)
    dst_graph = builder.compile(checkpointer=dst.saver, store=dst.store)
    for tid in threads:
        if _src_inventory(src.app_conn, tid) != _dst_inventory(dst, tid):
            raise MigrationError(
                f"thread {tid}: checkpoints, pending writes or app records differ after the copy"
            )
        if _latest_messages(src_graph, tid) != _latest_messages(dst_graph, tid):
            raise MigrationError(f"thread {tid}: the latest state differs after the copy")


def migrate_to_redis(
    data_dir: Path,
    url: str,
    *,
    busy_timeout_s: float = 30.0,
    progress: Callable[[str], None] = lambda _msg: None,
    step: Step = lambda _where: None,
) -> MigrationReport:
    """Copy the SQLite database under ``data_dir`` into the Redis at ``url``.

    ``step`` is called at every boundary between two writes."""
    if not (data_dir / DB_NAME).is_file():
        raise MigrationError(f"{data_dir / DB_NAME}: no SQLite database to migrate")
    src = open_sqlite_backend(data_dir, busy_timeout_s)
    try:
        dst = open_redis(url)
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
                todo.append(tid)
        if conflicts:
            raise MigrationError(
                f"{len(conflicts)} threads already exist in the target with checkpoints the"
                f" SQLite database does not have (e.g. {conflicts[0]}); nothing was copied"
            )
        for n, tid in enumerate(todo, 1):
            report.checkpoints += _copy_checkpoints(src, dst, conn, tid, step)
            report.writes += _copy_writes(src, dst, conn, tid)
            step(f"{tid} writes")
            user = _copy_app_rows(dst, conn, tid)
            step(f"{tid} app rows")
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


def run_migrate_to_redis(data_dir: Path, url: str, busy_timeout_s: float) -> int:
    """``chat-app migrate --to redis://...``: one summary line, or one error line."""
    try:
        report = migrate_to_redis(
            data_dir,
            url,
            busy_timeout_s=busy_timeout_s,
            progress=lambda msg: print(f"chat-app: {msg}", file=sys.stderr),
        )
    except (MigrationError, StorageError) as exc:
        print(f"chat-app: migrate: {exc}", file=sys.stderr)
        return 1
    print(report.summary(describe_url(url)))
    return 0
