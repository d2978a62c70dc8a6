"""The embedded backend: one SQLite file holds checkpoints, profile and index.

Three connections share the file (WAL): the checkpointer's, the store's and
the app's own (threads index, timeline notes, partial replies). Each gets a
long busy timeout: ``SqliteSaver.from_conn_string`` sets none, and a writer
blocked for more than 5 s would fail with "database is locked".
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import zlib
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.sqlite import SqliteStore

from chat_app.core.fast_saver import FastSqliteSaver
from chat_app.core.index import ThreadIndex
from chat_app.core.locks import ThreadLock

DB_NAME = "chat.db"


class StorageError(Exception):
    """Storage cannot be used; the message says what is wrong and what to do."""


COMPRESS_PREFIX = "z:"
COMPRESS_MIN_BYTES = 512
MAX_BLOB_BYTES = 512 * 1024 * 1024


class CompressingSerializer(JsonPlusSerializer):
    """LangGraph's serializer, with large blobs zlib-compressed.

    The large blobs are the periodic full snapshots of the message list;
    conversation text compresses 3-5x. A subclass (not a wrapper) so that
    LangGraph can still derive its msgpack allow-list from it.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        typ, data = super().dumps_typed(obj)
        if len(data) >= COMPRESS_MIN_BYTES:
            return COMPRESS_PREFIX + typ, zlib.compress(data, 6)
        return typ, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        typ, blob = data
        if typ.startswith(COMPRESS_PREFIX):
            d = zlib.decompressobj()
            raw = d.decompress(blob, MAX_BLOB_BYTES)
            if d.unconsumed_tail:
                raise ValueError("checkpoint blob expands beyond the size limit")
            return super().loads_typed((typ[len(COMPRESS_PREFIX) :], raw))
        return super().loads_typed(data)


def strict_serde() -> JsonPlusSerializer:
    """No pickle, and msgpack revives only LangGraph's allow-listed types."""
    return CompressingSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


def secure_dir(path: Path) -> None:
    """Create ``path`` (0700); tighten it if it exists with looser bits."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o700)


def secure_file(path: Path) -> None:
    """Create ``path`` 0600 before SQLite opens it (its -wal/-shm copy the mode)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)


def connect(path: Path, busy_timeout_s: float, *, autocommit: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout_s,
        check_same_thread=False,
        isolation_level=None if autocommit else "DEFERRED",
    )
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged turn survives power loss, not only a crash.
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class SqliteBackend:
    """Checkpoints, profile and index in one SQLite file; file locks per thread."""

    name = "sqlite"

    def __init__(
        self, path: Path, saver: SqliteSaver, store: SqliteStore, app_conn: sqlite3.Connection
    ) -> None:
        self.path = path
        self.saver = saver
        self.store = store
        self.app_conn = app_conn
        self.index = ThreadIndex(app_conn)
        self.lock_dir = path.parent / "locks"
        self.lock_dir.mkdir(mode=0o700, exist_ok=True)

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def db_path(self) -> Path | None:
        return self.path

    def lock(self, thread_id: str) -> ThreadLock:
        return ThreadLock(self.lock_dir, thread_id)

    def close(self) -> None:
        for conn in (self.saver.conn, self.store.conn, self.app_conn):
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def open_sqlite_backend(data_dir: Path, busy_timeout_s: float) -> SqliteBackend:
    """Open (creating if needed) the database under ``data_dir``."""
    try:
        secure_dir(data_dir)
        path = data_dir / DB_NAME
        secure_file(path)
    except PermissionError as exc:
        raise StorageError(
            f"{exc.filename}: permission denied; choose another --data-dir or fix the permissions"
        ) from None
    except OSError as exc:
        raise StorageError(
            f"{data_dir}: cannot create the data directory: {exc.strerror}"
        ) from None
    try:
        saver_conn = connect(path, busy_timeout_s, autocommit=False)
        saver = FastSqliteSaver(saver_conn, serde=strict_serde())
        saver.setup()
        store_conn = connect(path, busy_timeout_s, autocommit=True)
        store = SqliteStore(store_conn)
        store.setup()
        app_conn = connect(path, busy_timeout_s, autocommit=True)
        return SqliteBackend(path, saver, store, app_conn)
    except sqlite3.DatabaseError as exc:
        raise StorageError(describe_sqlite_error(path, exc)) from None


def describe_sqlite_error(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path}: the database is busy (another chat-app is writing); try again"
    if "readonly" in text or "read-only" in text:
        return f"{path}: the database is read-only; check its permissions (chmod 600)"
    if "disk is full" in text or "full" in text:
        return f"{path}: the disk is full; free some space and try again (nothing was lost)"
    if "malformed" in text or "not a database" in text:
        return (
            f"{path}: the database is damaged ({text}); it was not modified. "
            "Run `chat-app doctor` and restore from a backup"
        )
    return f"{path}: database error: {text}"
