"""One writer per thread across hosts: a PostgreSQL session advisory lock."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from chat_app.storage.backend import HeldLock
from chat_app.storage.errors import StorageError
from chat_app.storage.postgres.connection import connect, lock_key

with contextlib.suppress(ImportError):  # open_pg says what is missing (MISSING_DEPS)
    import psycopg


class PgWriterLock(HeldLock):
    """One writer per thread across hosts: ``pg_try_advisory_lock`` held on a
    dedicated connection for the run; closing the connection releases it."""

    def __init__(self, dsn: str, thread_id: str) -> None:
        self.dsn = dsn
        self.key = lock_key("chat-app:thread:" + thread_id)
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = connect(self.dsn)
            # The server notices a vanished client host within about 30 s
            # and ends its session, which drops the lock.
            for setting, value in (
                ("tcp_keepalives_idle", "10"),
                ("tcp_keepalives_interval", "5"),
                ("tcp_keepalives_count", "4"),
            ):
                conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
            self._conn = conn
        return self._conn

    def _try_lock(self) -> bool:
        """One attempt on this lock's connection (kept while polling)."""
        try:
            row = (
                self._connection()
                .execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                .fetchone()
            )
        except psycopg.Error as exc:
            self._close()
            raise StorageError(f"PostgreSQL: cannot take the thread lock: {exc}") from None
        return bool(row and row[0])

    def try_acquire(self) -> bool:
        if self._held:
            return True
        self._held = self._try_lock()
        if not self._held:
            self._close()
        return self._held

    def acquire(self, timeout_s: float, poll_s: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._held:
                return True
            # Keep one connection while polling instead of reconnecting.
            if self._try_lock():
                self._held = True
                return True
            if time.monotonic() >= deadline:
                self._close()
                return False
            time.sleep(poll_s)

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        if self._held and self._conn is not None and not self._conn.closed:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._held = False
        self._close()
