"""Storage upkeep: retention (prune), VACUUM, sizes, on either backend.

What prune may delete: only checkpoints of *abandoned* branches, i.e. not on
the current branch (the parent chain of the thread's newest checkpoint), and
only whole subtrees. A checkpoint stores the message list as a delta (plus a
snapshot now and then), so rebuilding any kept checkpoint needs every one of
its ancestors: the kept set is always closed under "parent of". The rules,
from ``[retention]``:

* an abandoned branch (a leaf other than the head, with the checkpoints that
  only it uses) whose newest checkpoint is older than
  ``drop_branches_older_than_days`` is dropped;
* of the remaining abandoned branches, the newest are kept whole while their
  checkpoints add up to at most ``keep_old_branch_checkpoints`` per thread; the
  older ones are dropped.

With a checkpoint go its pending writes and its timeline note. The current
branch is never touched, so ``load_messages`` gives exactly the same messages
before and after. Deleting rows does not shrink the file: :func:`vacuum` does.

The plan is the same on both backends; reading the graph, sizing and deleting
go through an :class:`Upkeep` (:class:`SqliteUpkeep` here,
``chat_app.storage.postgres.maintenance.PgUpkeep`` on PostgreSQL, which also deletes
the blobs only the dropped checkpoints use, and needs no VACUUM).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from chat_app.config import RetentionSettings
from chat_app.storage.sqlite.index import uuid6_time

if TYPE_CHECKING:
    from chat_app.storage.backend import Backend


@dataclass
class ThreadPrune:
    thread_id: str
    branches: int = 0
    checkpoints: int = 0
    bytes: int = 0
    ids: list[str] = field(default_factory=list, repr=False)


@dataclass
class PruneReport:
    threads: list[ThreadPrune] = field(default_factory=list)
    skipped_busy: list[str] = field(default_factory=list)
    dry_run: bool = True
    file_bytes_before: int = 0
    file_bytes_after: int = 0

    @property
    def checkpoints(self) -> int:
        return sum(t.checkpoints for t in self.threads)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.threads)


@dataclass(frozen=True)
class ThreadSize:
    thread_id: str
    checkpoints: int
    bytes: int


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


def _ancestors(start: str, parent: dict[str, str | None]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    cur: str | None = start
    while cur is not None and cur in parent and cur not in seen:
        seen.add(cur)
        out.append(cur)
        cur = parent[cur]
    return out


def plan_thread(
    conn: sqlite3.Connection | Upkeep,
    thread_id: str,
    policy: RetentionSettings,
    now: float | None = None,
    shown_head: str | None = None,
) -> ThreadPrune:
    """Which checkpoints of ``thread_id`` the policy drops (nothing is changed).

    ``shown_head``: the end of the branch the person switched to (the index's
    chosen head); it is current too, and kept like the newest one.
    """
    up = SqliteUpkeep(conn) if isinstance(conn, sqlite3.Connection) else conn
    now = time.time() if now is None else now
    parent = up.edges(thread_id)
    plan = ThreadPrune(thread_id)
    if not parent:
        return plan
    head = max(parent)
    keep: set[str] = set(_ancestors(head, parent))
    if shown_head is not None:
        keep.update(_ancestors(shown_head, parent))
    has_child = {p for p in parent.values() if p is not None}
    leaves = sorted((c for c in parent if c not in has_child and c != head), reverse=True)
    cutoff = now - policy.drop_branches_older_than_days * 86400.0
    budget = policy.keep_old_branch_checkpoints
    for leaf in leaves:  # newest abandoned branch first
        own = [c for c in _ancestors(leaf, parent) if c not in keep]
        own_set = set(own)
        # The branch's exclusive part ends where it joins a kept checkpoint.
        if uuid6_time(leaf) >= cutoff and len(own) <= budget:
            keep |= own_set
            budget -= len(own)
    drop = [c for c in parent if c not in keep]
    if not drop:
        return plan
    plan.ids = sorted(drop)
    plan.checkpoints = len(drop)
    plan.branches = sum(1 for leaf in leaves if leaf not in keep)
    plan.bytes = up.bytes_of(thread_id, plan.ids)
    return plan


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


class Upkeep(Protocol):
    """What prune and doctor need from a backend's storage."""

    # True when compact() gives space back (VACUUM); PostgreSQL's autovacuum
    # reuses freed space by itself.
    compacts: bool

    def edges(self, thread_id: str) -> dict[str, str | None]: ...

    def bytes_of(self, thread_id: str, ids: list[str]) -> int: ...

    def delete(self, thread_id: str, ids: list[str]) -> None: ...

    def sizes(self) -> list[ThreadSize]: ...

    def total_bytes(self) -> int: ...

    def compact(self) -> None: ...


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


def upkeep_for(backend: Backend) -> Upkeep:
    """The :class:`Upkeep` of an open backend."""
    from chat_app.storage.sqlite.backend import SqliteBackend

    if isinstance(backend, SqliteBackend):
        return SqliteUpkeep(backend.app_conn, backend.path)
    if backend.name == "postgres":
        from chat_app.storage.postgres.backend import PgBackend
        from chat_app.storage.postgres.maintenance import PgUpkeep

        if isinstance(backend, PgBackend):
            return PgUpkeep(backend.pool)
    raise TypeError(f"no storage upkeep for the {backend.name} backend")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
