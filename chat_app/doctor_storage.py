"""Doctor's read-only look at a SQLite data directory.

Opening the database must create nothing and change no mode: a plain
read-only open of a WAL database creates ``-wal`` and ``-shm`` (with the
database's mode: 0400 files that later make every write fail). So the file
is opened as *immutable* when no ``-wal`` exists (then there is nothing
beside the file to read, and no chat-app has it open), and plainly read-only
only when both ``-wal`` and ``-shm`` are already there.

Then what the quick check cannot see: threads whose head cannot be read the
way the app reads it, threads in the checkpoint tables that the thread list
does not know, and database files with modes that break writing or let
others read.
"""

from __future__ import annotations

import os
import random
import sqlite3
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chat_app.storage.sqlite.fast_saver import FastSqliteSaver

# Threads whose heads are read: the most recent ones and a random sample of
# the rest, so a large database is checked in seconds.
RECENT_HEADS = 200
RANDOM_HEADS = 200
SHOWN_IDS = 3


class Report(Protocol):
    def ok(self, what: str, detail: str) -> None: ...
    def warn(self, what: str, detail: str) -> None: ...
    def fail(self, what: str, detail: str) -> None: ...


def _beside(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def open_read_only(db: Path) -> tuple[sqlite3.Connection, str]:
    """A connection that cannot create or change any file, and a note on what
    it could not read ('' when it reads everything)."""
    wal, shm = _beside(db, "-wal"), _beside(db, "-shm")
    if os.path.lexists(wal) and os.path.lexists(shm):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2.0)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn, ""
        except sqlite3.OperationalError as exc:
            # SQLITE_CANTOPEN / READONLY: the -shm cannot be used without writing.
            conn.close()
            note = f"{wal} was not read ({exc}); the check covers {db.name} as last folded"
    elif os.path.lexists(wal):
        note = f"{wal} has no -shm beside it and was not read; the check covers {db.name} alone"
    else:
        note = ""
    return sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True), note


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def check_file_modes(d: Report, db: Path) -> None:
    """Database files the app cannot write (a 0400 -wal left by a read-only
    open), and the app's other files if others can read them (the database
    files' group and world bits are the permissions check's)."""
    problems = []
    for p in (db, _beside(db, "-wal"), _beside(db, "-shm")):
        if os.path.lexists(p) and not p.is_symlink() and not _mode(p) & stat.S_IWUSR:
            problems.append(f"{p} is {_mode(p):04o}")
    for p in (db.with_name("chat-app.log"), db.with_name(db.name + ".clean")):
        if os.path.lexists(p) and not p.is_symlink() and _mode(p) & 0o077:
            problems.append(f"{p} is {_mode(p):04o}")
    if problems:
        d.fail(
            "file modes",
            "; ".join(problems)
            + " (the app needs 0600: writable by you, by no one else); run: chmod 600"
            + "".join(f" {p.split(' is ')[0]}" for p in problems),
        )
    else:
        d.ok("file modes", "database files 0600")


def _sample(ids: list[str], seed: int | None = None) -> list[str]:
    rest = ids[RECENT_HEADS:]
    picked = random.Random(seed).sample(rest, min(RANDOM_HEADS, len(rest)))
    return ids[:RECENT_HEADS] + picked


def _read_only_saver(conn: sqlite3.Connection) -> FastSqliteSaver:
    from chat_app.storage.serde import strict_serde
    from chat_app.storage.sqlite.fast_saver import FastSqliteSaver
    from graphs.state import DELTA_REDUCERS

    saver = FastSqliteSaver(conn, serde=strict_serde(), reducers=DELTA_REDUCERS)
    saver.is_setup = True  # set-up creates tables: never on doctor's connection
    return saver


def _graph_reads(conn: sqlite3.Connection, thread_ids: list[str]) -> list[tuple[str, str]]:
    """Read each head through LangGraph as the app does when the fast reader
    declines; (thread id, why) for those that fail."""
    from chat_app.service.damage import check_messages, reading
    from graphs.graph import build_graph
    from graphs.models import make_offline_model

    graph = build_graph(make_offline_model()).compile(checkpointer=_read_only_saver(conn))
    failed = []
    for tid in thread_ids:
        try:
            with reading(tid):
                snap = graph.get_state({"configurable": {"thread_id": tid}})
            check_messages(tid, None, dict(snap.values or {}))
        except sqlite3.Error as exc:
            failed.append((tid, str(exc)))
        except Exception as exc:
            # Only the kind: the text of a damaged row can quote the payload.
            kind = type(exc).__name__
            failed.append((tid, "damaged checkpoint" if kind == "DamagedCheckpoint" else kind))
    return failed


def check_thread_heads(d: Report, conn: sqlite3.Connection, seed: int | None = None) -> None:
    from chat_app.storage.sqlite.head_reader import read_head

    try:
        ids = [
            str(r[0])
            for r in conn.execute("SELECT thread_id FROM app_threads ORDER BY updated_at DESC")
        ]
    except sqlite3.Error:
        return  # no thread list (not a chat-app database yet): nothing to sample
    chosen = _sample(ids, seed)
    declined = []
    failed: list[tuple[str, str]] = []
    for tid in chosen:
        try:
            if read_head(conn, tid) is None:
                declined.append(tid)
        except sqlite3.Error as exc:
            failed.append((tid, str(exc)))
    if declined:
        failed += _graph_reads(conn, declined)
    what = f"{len(chosen)} of {len(ids)}" if len(chosen) < len(ids) else f"all {len(ids)}"
    if failed:
        first = "; ".join(f"{t}: {why}" for t, why in failed[:SHOWN_IDS])
        d.fail(
            "thread heads",
            f"{len(failed)} of {what} threads checked cannot be read ({first}"
            f"{' ...' if len(failed) > SHOWN_IDS else ''}). Keep the file; rewind those threads"
            " to an earlier checkpoint (chat-app history / rewind) or restore a backup",
        )
    else:
        d.ok("thread heads", f"{what} threads read as the app reads them")


def check_unlisted_threads(d: Report, conn: sqlite3.Connection) -> None:
    try:
        rows = conn.execute(
            "SELECT thread_id FROM (SELECT thread_id FROM checkpoints"
            " UNION SELECT thread_id FROM writes)"
            " WHERE thread_id NOT IN (SELECT thread_id FROM app_threads) ORDER BY thread_id"
        ).fetchall()
    except sqlite3.Error:
        return
    if not rows:
        d.ok("thread list", "every thread in the checkpoint tables is listed")
        return
    first = ", ".join(str(r[0]) for r in rows[:SHOWN_IDS])
    d.warn(
        "thread list",
        f"{len(rows)} thread(s) in the checkpoint tables are missing from the thread list"
        f" ({first}{' ...' if len(rows) > SHOWN_IDS else ''}): the app does not show them;"
        " their checkpoints are kept as they are (copy chat.db before any repair)",
    )
