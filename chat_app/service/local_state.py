"""What this machine keeps for a person between runs: the session.

The open thread, each thread's unsent draft and the choices made on screen
(theme, side tab, panels) come back after a quit or a crash without Redis:
they live in ``local.db`` in the data directory, beside the outbox. Redis,
when configured, is still read first (it is shared by the instances of a
person); this file is the copy that survives it being emptied.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

# What this machine keeps between runs: the outbox (messages between Enter and
# their input checkpoint) and the session (this module).
LOCAL_FILE = "local.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_values (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, key)
);
"""


class LocalValues:
    def __init__(self, path: Path | None, user_id: str, busy_timeout_s: float) -> None:
        """``path`` None: kept in memory only (the memory backend)."""
        from chat_app.storage.private_files import create_private_file

        if path is not None:
            create_private_file(path)
        self.user_id = user_id
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            ":memory:" if path is None else path,
            timeout=busy_timeout_s,
            check_same_thread=False,
            isolation_level=None,
        )
        # A draft or a choice lost to a power cut is no loss worth an fsync.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM local_values WHERE user_id = ? AND key = ?",
                (self.user_id, key),
            ).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO local_values (user_id, key, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (self.user_id, key, value, time.time()),
            )

    def delete(self, key: str) -> None:
        with self._lock:
            self._conn.execute(
                "DELETE FROM local_values WHERE user_id = ? AND key = ?", (self.user_id, key)
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
