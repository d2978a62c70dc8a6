"""Messages between the person pressing Enter and their input checkpoint.

A message leaves the input box only once it is written here (a small SQLite
file in the data directory, fsynced): the agent may still be loading, the
thread may be busy in another window, and a crash in that window must not
lose what the chat already shows. The row is removed when the message's input
checkpoint is acknowledged. After a crash, start-up looks at every row left
by a process that is gone: a message that reached its thread is dropped from
here (it is there exactly once); one that did not comes back as a draft of
its thread ("returned"), and stays here until the person sends or edits it.

The file is per machine, whatever the storage backend: what this terminal
typed is given back in this terminal.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    thread_id TEXT,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    returned INTEGER NOT NULL DEFAULT 0
);
"""

# A row written on another host is only taken over once it is this old: its
# writer may still be sending it (rows of this host are judged by their pid).
FOREIGN_ROW_AGE_S = 600.0


@dataclass(frozen=True)
class Unsent:
    """A message that was not saved before its app stopped: back as a draft."""

    message_id: str
    thread_id: str | None
    text: str


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    def __init__(self, path: Path | None, user_id: str, busy_timeout_s: float) -> None:
        """``path`` None: kept in memory only (the memory backend)."""
        from chat_app.storage.private_files import create_private_file

        if path is not None:
            create_private_file(path)
        self.path = path
        self.user_id = user_id
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            ":memory:" if path is None else path,
            timeout=busy_timeout_s,
            check_same_thread=False,
            isolation_level=None,
        )
        # FULL: a row the person saw leave the input box survives power loss.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def put(self, thread_id: str | None, text: str) -> str:
        """Keep ``text`` durably; the id is the message's id in its thread.

        A draft given back to this thread after a crash was in the box this
        text was sent from: it is taken.
        """
        message_id = str(uuid.uuid4())
        with self._tx() as c:
            c.execute(
                "DELETE FROM outbox WHERE returned = 1 AND user_id = ? AND thread_id IS ?",
                (self.user_id, thread_id),
            )
            c.execute(
                "INSERT INTO outbox (message_id, user_id, thread_id, text, created_at, host, pid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, self.user_id, thread_id, text, time.time(), self._host, os.getpid()),
            )
        return message_id

    def assign(self, message_id: str, thread_id: str) -> None:
        """The thread a message held before start-up (or a new thread) goes to."""
        with self._tx() as c:
            c.execute(
                "UPDATE outbox SET thread_id = ? WHERE message_id = ?", (thread_id, message_id)
            )

    def remove(self, message_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,))

    def orphans(self) -> list[Unsent]:
        """Rows of this user whose writer is gone (crashed), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT message_id, thread_id, text, created_at, host, pid, returned"
                " FROM outbox WHERE user_id = ? ORDER BY created_at",
                (self.user_id,),
            ).fetchall()
        now = time.time()
        out: list[Unsent] = []
        for mid, tid, text, created, host, pid, returned in rows:
            if returned:
                out.append(Unsent(mid, tid, text))
            elif host == self._host:
                if not _alive(pid):
                    out.append(Unsent(mid, tid, text))
            elif now - created > FOREIGN_ROW_AGE_S:
                out.append(Unsent(mid, tid, text))
        return out

    def mark_returned(self, message_id: str, thread_id: str | None = None) -> None:
        """Given back as a draft (of ``thread_id``, when given), owned by this process."""
        with self._tx() as c:
            c.execute(
                "UPDATE outbox SET returned = 1, thread_id = coalesce(?, thread_id),"
                " host = ?, pid = ? WHERE message_id = ?",
                (thread_id, self._host, os.getpid(), message_id),
            )

    def pending_count(self) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM outbox WHERE user_id = ? AND returned = 0", (self.user_id,)
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
