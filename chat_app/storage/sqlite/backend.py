"""The embedded backend: one SQLite file holds checkpoints, profile and index.

Three connections share the file (WAL): the checkpointer's, the store's and
the app's own (threads index, timeline notes, partial replies). Each gets a
long busy timeout: ``SqliteSaver.from_conn_string`` sets none, and a writer
blocked for more than 5 s would fail with "database is locked".

Opening checks the file and opens the app's connection only; the
checkpointer and the store (LangGraph's, with over a second of imports
behind them) open at their first use. A new database gets its checkpoint
tables at once, since the index reads them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chat_app.service.events import ChatMessage
from chat_app.storage.errors import StorageError
from chat_app.storage.private_files import create_private_file, make_private_dir
from chat_app.storage.sqlite.checkpoint_schema import create_checkpoint_tables
from chat_app.storage.sqlite.head_reader import read_head, read_value
from chat_app.storage.sqlite.index import ThreadIndex
from chat_app.storage.sqlite.locks import ThreadLock
from chat_app.storage.sqlite.maintenance import SqliteUpkeep

if TYPE_CHECKING:
    from langgraph.store.sqlite import SqliteStore

    from chat_app.storage.sqlite.fast_saver import FastSqliteSaver

DB_NAME = "chat.db"
# Written at a clean close: the database file as it was left. A start that
# finds the file unchanged skips the integrity check (which reads the whole
# file: seconds for a large database on a cold disk); any other start checks.
CLEAN_MARK = "chat.db.clean"
# The lock file name of schema set-up (no thread id holds a NUL).
SETUP_LOCK = "\x00set-up"


# What a connection may still do once the file is known to be damaged: read.
_READ_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)


def _reads_only(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def is_damage(exc: BaseException) -> bool:
    """Whether SQLite says the file itself is damaged (not busy, full or read-only)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return True
    return "malformed" in str(exc) or "not a database" in str(exc)


def connect(
    path: Path,
    busy_timeout_s: float,
    *,
    autocommit: bool,
    factory: type[sqlite3.Connection] = sqlite3.Connection,
) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout_s,
        check_same_thread=False,
        isolation_level=None if autocommit else "DEFERRED",
        factory=factory,
    )
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged turn survives power loss, not only a crash.
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class _HeldCommits(sqlite3.Connection):
    """A connection whose commit() waits while ``held``: SqliteSaver commits
    after every put, and one_transaction needs them all in one."""

    held = False

    def commit(self) -> None:
        if not self.held:
            super().commit()


class SqliteBackend:
    """Checkpoints, profile and index in one SQLite file; file locks per thread."""

    name = "sqlite"

    def __init__(self, path: Path, app_conn: sqlite3.Connection, busy_timeout_s: float) -> None:
        self.path = path
        self.app_conn = app_conn
        self.busy_timeout_s = busy_timeout_s
        self.index = ThreadIndex(app_conn)
        self.lock_dir = path.parent / "locks"
        make_private_dir(self.lock_dir)
        self._saver: FastSqliteSaver | None = None
        self._store: SqliteStore | None = None
        # Re-entrant: an open that finds damage marks every connection (found_damage).
        self._open_lock = threading.RLock()
        # Set when damage shows up after start-up; see found_damage().
        self.damage: str | None = None

    @property
    def saver(self) -> FastSqliteSaver:
        if self._saver is None:
            with self._open_lock:
                if self._saver is None:
                    self._saver = self._open(open_saver)
        return self._saver

    @property
    def store(self) -> SqliteStore:
        if self._store is None:
            with self._open_lock:
                if self._store is None:
                    self._store = self._open(open_store)
        return self._store

    def _open(self, opener: Any) -> Any:
        # One process at a time sets up: LangGraph's store reads its schema
        # version and then applies the migrations after it, which two first
        # uses at once both did ("duplicate column name"). LangGraph is
        # imported first: another start need not wait for our imports.
        import langgraph.store.sqlite  # noqa: F401

        import chat_app.storage.sqlite.fast_saver  # noqa: F401

        setup = self.lock(SETUP_LOCK)
        if not setup.acquire(self.busy_timeout_s, poll_s=0.01):
            raise StorageError(
                f"{self.path}: the database is busy (another chat-app is setting it up); try again"
            )
        try:
            opened = opener(self.path, self.busy_timeout_s)
        except sqlite3.DatabaseError as exc:
            raise StorageError(self.describe_error(exc)) from None
        finally:
            setup.release()
        if self.damage is not None:
            opened.conn.set_authorizer(_reads_only)
        return opened

    def _conns(self) -> list[sqlite3.Connection]:
        with self._open_lock:
            return [self.app_conn] + [x.conn for x in (self._saver, self._store) if x is not None]

    def found_damage(self, message: str) -> None:
        """Damage seen after start-up: from now on every connection only reads
        (SQLite's authorizer refuses anything else), and the close leaves no
        clean mark, so the next start checks the file and refuses it."""
        self.damage = message
        for conn in self._conns():
            conn.set_authorizer(_reads_only)

    def describe_error(self, exc: sqlite3.Error) -> str:
        """One line for a database error; damage is remembered (found_damage)."""
        if self.damage is None and is_damage(exc):
            self.found_damage(describe_sqlite_error(self.path, exc))
        if self.damage is not None:
            # A write refused after the damage was found: say why.
            return self.damage
        return describe_sqlite_error(self.path, exc)

    def head_messages(self, thread_id: str) -> list[ChatMessage] | None:
        """The conversation at the head, read without LangGraph (None: read it through it)."""
        return read_head(self.app_conn, thread_id)

    def plain_value(
        self, thread_id: str, checkpoint_id: str | None, channel: str
    ) -> tuple[bool, Any]:
        """Read without LangGraph (its imports stay off the way to the first screen)."""
        return read_value(self.app_conn, thread_id, checkpoint_id, channel)

    @contextmanager
    def one_transaction(self) -> Iterator[tuple[FastSqliteSaver, ThreadIndex]]:
        """A saver and an index writing through one connection of their own in
        one transaction: committed together at the end of the block; nothing at
        all if the block raises or the process dies first. The transaction holds
        the database's write lock throughout (BEGIN IMMEDIATE)."""
        conn = connect(self.path, self.busy_timeout_s, autocommit=True, factory=_HeldCommits)
        assert isinstance(conn, _HeldCommits)
        try:
            saver = saver_on(conn)
            index = ThreadIndex(conn, joined=True)
            conn.execute("BEGIN IMMEDIATE")
            conn.held = True
            try:
                yield saver, index
            except BaseException:
                conn.rollback()
                raise
            conn.held = False
            conn.commit()
        finally:
            conn.close()

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def db_path(self) -> Path | None:
        return self.path

    def lock(self, thread_id: str) -> ThreadLock:
        return ThreadLock(self.lock_dir, thread_id)

    def upkeep(self) -> SqliteUpkeep:
        return SqliteUpkeep(self.app_conn, self.path)

    def close(self) -> None:
        for conn in self._conns():
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self.damage is None:
            mark_clean(self.path)


def open_saver(path: Path, busy_timeout_s: float) -> FastSqliteSaver:
    return saver_on(connect(path, busy_timeout_s, autocommit=False))


def saver_on(conn: sqlite3.Connection) -> FastSqliteSaver:
    from chat_app.storage.serde import strict_serde
    from chat_app.storage.sqlite.fast_saver import FastSqliteSaver
    from graphs.state import DELTA_REDUCERS

    saver = FastSqliteSaver(conn, serde=strict_serde(), reducers=DELTA_REDUCERS)
    saver.setup()
    return saver


def open_store(path: Path, busy_timeout_s: float) -> SqliteStore:
    from langgraph.store.sqlite import SqliteStore

    store = SqliteStore(connect(path, busy_timeout_s, autocommit=True))
    store.setup()
    return store


def _file_state(path: Path) -> dict[str, int] | None:
    """What identifies the database file as left: None while a WAL holds changes."""
    wal = path.with_name(path.name + "-wal")
    try:
        if wal.exists() and wal.stat().st_size > 0:
            return None  # another instance is still writing, or the close was not clean
        st = path.stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def mark_clean(path: Path) -> None:
    """After the last connection closed: remember the file, for a quick next start."""
    state = _file_state(path)
    if state is None:
        return
    mark = path.with_name(CLEAN_MARK)
    with contextlib.suppress(OSError):
        fd = os.open(mark, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f)


def left_clean(path: Path) -> bool:
    """Whether the file is exactly as a clean close left it. Consumes the mark, so
    that a crash of this run makes the next start check the file."""
    mark = path.with_name(CLEAN_MARK)
    try:
        saved = json.loads(mark.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    finally:
        with contextlib.suppress(OSError):
            mark.unlink()
    return bool(saved == _file_state(path))


def open_sqlite_backend(data_dir: Path, busy_timeout_s: float) -> SqliteBackend:
    """Open (creating if needed) the database under ``data_dir``."""
    try:
        make_private_dir(data_dir)
        path = data_dir / DB_NAME
        create_private_file(path)
    except PermissionError as exc:
        raise StorageError(
            f"{exc.filename}: permission denied; choose another --data-dir or fix the permissions"
        ) from None
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise StorageError(
                f"{exc.filename}: the file system is read-only; the app cannot save here."
                " Choose another --data-dir"
            ) from None
        raise StorageError(
            f"{data_dir}: cannot create the data directory: {exc.strerror}"
        ) from None
    try:
        clean = left_clean(path)
        app_conn = connect(path, busy_timeout_s, autocommit=True)
        if not clean:
            check_database(path, app_conn)
        backend = SqliteBackend(path, app_conn, busy_timeout_s)
    except sqlite3.DatabaseError as exc:
        raise StorageError(describe_sqlite_error(path, exc)) from None
    if not _has_table(app_conn, "checkpoints") or not _has_table(app_conn, "writes"):
        create_checkpoint_tables(app_conn)  # a new database (without loading LangGraph)
    return backend


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def check_database(path: Path, conn: sqlite3.Connection) -> None:
    """Refuse a damaged database before anything writes to it (read-only check)."""
    rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    if rows != [("ok",)]:
        conn.close()
        detail = " ".join(str(rows[0][0]).split()) if rows else "no answer"
        raise StorageError(
            f"{path}: the database is damaged ({detail[:80]}); it was not modified. "
            "Run `chat-app doctor` and restore from a backup"
        )


def describe_sqlite_error(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path}: the database is busy (another chat-app is writing); try again"
    if "readonly" in text or "read-only" in text:
        return f"{path}: the database is read-only; check its permissions (chmod 600)"
    if "disk is full" in text or "full" in text:
        return f"{path}: the disk is full; free some space and try again (nothing was lost)"
    if "disk I/O error" in text:
        return (
            f"{path}: could not write to the disk (full, over quota or failing); "
            "free some space and try again (nothing was lost)"
        )
    if "malformed" in text or "not a database" in text:
        return (
            f"{path}: the database is damaged ({text}); nothing more is written to it. "
            "Run `chat-app doctor` and restore from a backup"
        )
    return f"{path}: database error: {text}"
