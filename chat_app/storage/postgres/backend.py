"""The shared backend: PostgreSQL holds checkpoints, profiles and the index.

Several instances (on several hosts) use one database:

- checkpoints through ``PostgresSaver`` and profiles through ``PostgresStore``,
  both on one ``psycopg_pool.ConnectionPool`` (autocommit, dict rows, as
  langgraph-checkpoint-postgres requires), with the same strict serializer as
  the SQLite backend;
- the app's own tables (threads, search text, timeline notes, partial
  replies) in the same database: :class:`PgThreadIndex`, with the same
  methods and semantics as :class:`chat_app.storage.sqlite.index.ThreadIndex`;
- one writer per thread: :class:`PgWriterLock`, a session advisory lock on a
  connection of its own, held for the run. PostgreSQL drops it when that
  connection ends, so a killed holder cannot keep the thread locked;
- ``setup()`` of the saver, the store and the app tables runs under an
  advisory lock, so instances starting together do not race on DDL.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from chat_app.service.events import ChatMessage, CheckpointInfo, ThreadInfo
from chat_app.storage.serde import strict_serde
from chat_app.storage.sqlite.backend import StorageError
from chat_app.storage.sqlite.index import APP_TABLES, escape_like, uuid6_time

if TYPE_CHECKING:
    from chat_app.config import Settings

try:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.store.postgres import PostgresStore
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - depends on the installation
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

MISSING_DEPS = (
    "storage.backend = 'postgres' needs the PostgreSQL extra: "
    "pip install 'chat-app[postgres]' (psycopg, langgraph-checkpoint-postgres)"
)

# Advisory lock keys are 64-bit; the app derives its own from names.
SETUP_LOCK_NAME = "chat-app:setup"
SETUP_WAIT_S = 120.0
CONNECT_TIMEOUT_S = 5

APP_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS app_threads (
    thread_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    title_locked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    run_state TEXT NOT NULL DEFAULT 'idle'
)""",
    "CREATE INDEX IF NOT EXISTS app_threads_by_user ON app_threads(user_id, updated_at DESC)",
    "CREATE INDEX IF NOT EXISTS app_threads_by_id_prefix"
    " ON app_threads(user_id, thread_id text_pattern_ops)",
    """CREATE TABLE IF NOT EXISTS app_messages (
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (thread_id, message_id)
)""",
    """CREATE TABLE IF NOT EXISTS app_notes (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    profile_updated BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (thread_id, checkpoint_id)
)""",
    """CREATE TABLE IF NOT EXISTS app_usage (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_id)
)""",
    """CREATE TABLE IF NOT EXISTS app_partial_replies (
    thread_id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS app_heads (
    thread_id TEXT PRIMARY KEY,
    checkpoint_id TEXT NOT NULL
)""",
]


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _nul_free(text: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can. Keep the rest as is.
    return text.replace("\x00", "\ufffd")


def describe_dsn(dsn: str) -> str:
    """``postgresql://user@host:port/db`` without the password, for status lines."""
    if _IMPORT_ERROR is not None:
        return "postgresql"
    try:
        info = conninfo_to_dict(dsn)
    except Exception:
        return "postgresql (invalid dsn)"
    user = f"{info['user']}@" if info.get("user") else ""
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname') or ''}"


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A plain autocommit connection (locks, LISTEN)."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


class PgWriterLock:
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

    def try_acquire(self) -> bool:
        if self._held:
            return True
        try:
            row = (
                self._connection()
                .execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                .fetchone()
            )
        except psycopg.Error as exc:
            self._close()
            raise StorageError(f"PostgreSQL: cannot take the thread lock: {exc}") from None
        self._held = bool(row and row[0])
        if not self._held:
            self._close()
        return self._held

    def acquire(self, timeout_s: float, poll_s: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._held:
                return True
            # Keep one connection while polling instead of reconnecting.
            try:
                row = (
                    self._connection()
                    .execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                    .fetchone()
                )
            except psycopg.Error as exc:
                self._close()
                raise StorageError(f"PostgreSQL: cannot take the thread lock: {exc}") from None
            if row and row[0]:
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

    def __enter__(self) -> PgWriterLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class PgThreadIndex:
    """The app's tables on PostgreSQL; same methods and semantics as ThreadIndex."""

    _COLS = "thread_id, title, created_at, updated_at, message_count, run_state"

    def __init__(self, source: ConnectionPool[Any] | psycopg.Connection[Any]) -> None:
        # A pool, or one connection whose open transaction every method joins
        # (PgBackend.one_transaction).
        self.source = source

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if isinstance(self.source, psycopg.Connection):
            yield self.source
        else:
            with self.source.connection() as conn:
                yield conn

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        # Inside an open transaction this is a savepoint.
        with self.connection() as conn, conn.transaction():
            yield conn

    def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        with self.connection() as conn:
            row: dict[str, Any] | None = conn.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any]) -> list[dict[str, Any]]:
        with self.connection() as conn:
            rows: list[dict[str, Any]] = conn.execute(sql, args).fetchall()
            return rows

    @staticmethod
    def _row(r: dict[str, Any]) -> ThreadInfo:
        return ThreadInfo(
            id=r["thread_id"],
            title=r["title"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            message_count=r["message_count"],
            interrupted=r["run_state"] == "running",
        )

    def create(self, user_id: str, title: str = "", thread_id: str | None = None) -> ThreadInfo:
        import uuid

        now = time.time()
        tid = thread_id or str(uuid.uuid4())
        title = _nul_free(title)
        with self._tx() as c:
            c.execute(
                "INSERT INTO app_threads (thread_id, user_id, title, title_locked, created_at,"
                " updated_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (tid, user_id, title, bool(title), now, now),
            )
        return ThreadInfo(tid, title, now, now, 0)

    def get(self, user_id: str, thread_id: str) -> ThreadInfo | None:
        r = self._one(
            f"SELECT {self._COLS} FROM app_threads WHERE thread_id = %s AND user_id = %s",
            (thread_id, user_id),
        )
        return self._row(r) if r else None

    def ids_with_prefix(self, user_id: str, prefix: str, limit: int) -> list[str]:
        """The user's thread ids starting with ``prefix`` (hex digits and '-' only).

        LIKE 'prefix%' is a range of the text_pattern_ops index whatever the
        database's collation (app_threads_by_id_prefix).
        """
        rows = self._all(
            "SELECT thread_id FROM app_threads WHERE user_id = %s AND thread_id LIKE %s"
            " ORDER BY thread_id LIMIT %s",
            (user_id, escape_like(prefix) + "%", limit),
        )
        return [str(r["thread_id"]) for r in rows]

    def owner(self, thread_id: str) -> str | None:
        r = self._one("SELECT user_id FROM app_threads WHERE thread_id = %s", (thread_id,))
        return str(r["user_id"]) if r else None

    def list_threads(
        self, user_id: str, limit: int | None = None, query: str = ""
    ) -> list[ThreadInfo]:
        args: list[Any] = [user_id]
        sql = f"SELECT {self._COLS} FROM app_threads WHERE user_id = %s"
        if query:
            # ILIKE: SQLite's LIKE ignores ASCII case, and so does this.
            pattern = f"%{escape_like(_nul_free(query))}%"
            sql += (
                " AND (title ILIKE %s ESCAPE '\\' OR thread_id IN (SELECT thread_id FROM"
                " app_messages WHERE text ILIKE %s ESCAPE '\\'))"
            )
            args += [pattern, pattern]
        sql += " ORDER BY updated_at DESC, thread_id"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return [self._row(r) for r in self._all(sql, args)]

    def rename(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET title = %s, title_locked = TRUE, updated_at = %s"
                " WHERE thread_id = %s",
                (_nul_free(title), time.time(), thread_id),
            )

    def set_auto_title(self, thread_id: str, title: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET title = %s WHERE thread_id = %s AND NOT title_locked"
                " AND title = ''",
                (_nul_free(title), thread_id),
            )

    def set_run_state(self, thread_id: str, state: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET run_state = %s, updated_at = %s WHERE thread_id = %s",
                (state, time.time(), thread_id),
            )

    def is_running(self, thread_id: str) -> bool:
        r = self._one("SELECT run_state FROM app_threads WHERE thread_id = %s", (thread_id,))
        return bool(r and r["run_state"] == "running")

    def running(self, user_id: str | None = None) -> list[str]:
        if user_id is None:
            rows = self._all("SELECT thread_id FROM app_threads WHERE run_state = 'running'", ())
        else:
            rows = self._all(
                "SELECT thread_id FROM app_threads WHERE run_state = 'running' AND user_id = %s",
                (user_id,),
            )
        return [r["thread_id"] for r in rows]

    def record_turn(
        self,
        thread_id: str,
        message_count: int,
        messages: Iterable[tuple[str, str, str]],
        notes: Iterable[tuple[str, str, str, bool]],
        usage: tuple[str, int, int] | None = None,
    ) -> None:
        """After a turn: counts, searchable text, timeline notes, the reply's
        token usage, run finished."""
        msg_rows = [(thread_id, mid, role, _nul_free(text)) for mid, role, text in messages]
        note_rows = [(thread_id, cid, kind, _nul_free(s), bool(p)) for cid, kind, s, p in notes]
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET message_count = %s, updated_at = %s,"
                " run_state = 'idle' WHERE thread_id = %s",
                (message_count, time.time(), thread_id),
            )
            with c.cursor() as cur:
                if msg_rows:
                    cur.executemany(
                        "INSERT INTO app_messages (thread_id, message_id, role, text)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id, message_id)"
                        " DO UPDATE SET role = EXCLUDED.role, text = EXCLUDED.text",
                        msg_rows,
                    )
                if note_rows:
                    cur.executemany(
                        "INSERT INTO app_notes (thread_id, checkpoint_id, kind, summary,"
                        " profile_updated) VALUES (%s, %s, %s, %s, %s)"
                        " ON CONFLICT (thread_id, checkpoint_id) DO UPDATE SET"
                        " kind = EXCLUDED.kind, summary = EXCLUDED.summary,"
                        " profile_updated = EXCLUDED.profile_updated",
                        note_rows,
                    )
            if usage is not None:
                c.execute(
                    "INSERT INTO app_usage (thread_id, checkpoint_id, input_tokens,"
                    " output_tokens) VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id,"
                    " checkpoint_id) DO UPDATE SET input_tokens = EXCLUDED.input_tokens,"
                    " output_tokens = EXCLUDED.output_tokens",
                    (thread_id, *usage),
                )
            c.execute("DELETE FROM app_partial_replies WHERE thread_id = %s", (thread_id,))

    def add_note(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> None:
        with self._tx() as c:
            # Like SQLite's INSERT OR REPLACE: the whole row is replaced.
            c.execute(
                "INSERT INTO app_notes (thread_id, checkpoint_id, kind, summary)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id, checkpoint_id) DO UPDATE SET"
                " kind = EXCLUDED.kind, summary = EXCLUDED.summary, profile_updated = FALSE",
                (thread_id, checkpoint_id, kind, _nul_free(summary)),
            )

    def set_count(self, thread_id: str, message_count: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET message_count = %s, updated_at = %s WHERE thread_id = %s",
                (message_count, time.time(), thread_id),
            )

    def set_times(self, thread_id: str, created_at: float, updated_at: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE app_threads SET created_at = %s, updated_at = %s WHERE thread_id = %s",
                (created_at, updated_at, thread_id),
            )

    def unindexed(self) -> list[tuple[str, str, str]]:
        rows = self._all(
            "SELECT thread_id, MIN(checkpoint_id) AS first, MAX(checkpoint_id) AS last"
            " FROM checkpoints WHERE checkpoint_ns = '' AND thread_id NOT IN"
            " (SELECT thread_id FROM app_threads) GROUP BY thread_id ORDER BY thread_id",
            (),
        )
        return [(str(r["thread_id"]), str(r["first"]), str(r["last"])) for r in rows]

    def save_partial(self, thread_id: str, text: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO app_partial_replies (thread_id, text, updated_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (thread_id) DO UPDATE SET"
                " text = EXCLUDED.text, updated_at = EXCLUDED.updated_at",
                (thread_id, _nul_free(text), time.time()),
            )

    def partial(self, thread_id: str) -> str:
        r = self._one("SELECT text FROM app_partial_replies WHERE thread_id = %s", (thread_id,))
        return str(r["text"]) if r else ""

    def stamp(self, user_id: str) -> tuple[int, float]:
        r = self._one(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS t FROM app_threads"
            " WHERE user_id = %s",
            (user_id,),
        )
        return (int(r["n"]), float(r["t"])) if r else (0, 0.0)

    def note(self, thread_id: str, checkpoint_id: str) -> tuple[str, str] | None:
        r = self._one(
            "SELECT kind, summary FROM app_notes WHERE thread_id = %s AND checkpoint_id = %s",
            (thread_id, checkpoint_id),
        )
        return (str(r["kind"]), str(r["summary"])) if r else None

    def checkpoints(self, thread_id: str, newest: int | None = None) -> list[CheckpointInfo]:
        """Checkpoints of the thread (all, or the ``newest`` few) from the saver's
        metadata (jsonb) and the notes, oldest first; no state is deserialized."""
        sql = (
            "SELECT c.checkpoint_id, c.parent_checkpoint_id, c.metadata -> 'step' AS step,"
            " c.metadata ->> 'source' AS source, n.kind, n.summary, n.profile_updated,"
            " u.input_tokens, u.output_tokens"
            " FROM checkpoints c LEFT JOIN app_notes n"
            " ON n.thread_id = c.thread_id AND n.checkpoint_id = c.checkpoint_id"
            " LEFT JOIN app_usage u"
            " ON u.thread_id = c.thread_id AND u.checkpoint_id = c.checkpoint_id"
            " WHERE c.thread_id = %s AND c.checkpoint_ns = ''"
        )
        if newest is None:
            rows = self._all(sql + " ORDER BY c.checkpoint_id", (thread_id,))
        else:
            rows = self._all(sql + " ORDER BY c.checkpoint_id DESC LIMIT %s", (thread_id, newest))[
                ::-1
            ]
        out: list[CheckpointInfo] = []
        for r in rows:
            step = r["step"]
            cid = r["checkpoint_id"]
            out.append(
                CheckpointInfo(
                    id=cid,
                    parent_id=r["parent_checkpoint_id"],
                    step=step if isinstance(step, int) and not isinstance(step, bool) else 0,
                    source=str(r["source"] or ""),
                    created_at=uuid6_time(cid),
                    kind=r["kind"] or "",
                    summary=r["summary"] or "",
                    profile_updated=bool(r["profile_updated"]),
                    input_tokens=r["input_tokens"],
                    output_tokens=r["output_tokens"],
                )
            )
        return out

    def newest_checkpoint(self, thread_id: str) -> str | None:
        r = self._one(
            "SELECT MAX(checkpoint_id) AS m FROM checkpoints WHERE thread_id = %s"
            " AND checkpoint_ns = ''",
            (thread_id,),
        )
        return str(r["m"]) if r and r["m"] else None

    def chosen_head(self, thread_id: str) -> str | None:
        """The checkpoint the person chose to continue from (another branch's
        end); None: the newest checkpoint is the head."""
        r = self._one("SELECT checkpoint_id FROM app_heads WHERE thread_id = %s", (thread_id,))
        return str(r["checkpoint_id"]) if r else None

    def choose_head(self, thread_id: str, checkpoint_id: str | None) -> None:
        """Show ``checkpoint_id``'s branch; None: the newest again (after a write)."""
        with self._tx() as c:
            if checkpoint_id is None:
                c.execute("DELETE FROM app_heads WHERE thread_id = %s", (thread_id,))
            else:
                c.execute(
                    "INSERT INTO app_heads (thread_id, checkpoint_id) VALUES (%s, %s)"
                    " ON CONFLICT (thread_id) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id",
                    (thread_id, checkpoint_id),
                )

    def delete(self, thread_id: str) -> None:
        with self._tx() as c:
            for table in APP_TABLES:
                c.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread_id,))


class PgBackend:
    """Checkpoints, profiles and index in one PostgreSQL database."""

    name = "postgres"

    def __init__(self, dsn: str, pool: ConnectionPool[Any]) -> None:
        self.dsn = dsn
        self.pool = pool
        self.saver = PostgresSaver(pool, serde=strict_serde())
        self.store = PostgresStore(pool)
        self.index = PgThreadIndex(pool)

    @property
    def location(self) -> str:
        return describe_dsn(self.dsn)

    @property
    def db_path(self) -> Path | None:
        return None

    def lock(self, thread_id: str) -> PgWriterLock:
        return PgWriterLock(self.dsn, thread_id)

    def head_messages(self, thread_id: str) -> list[ChatMessage] | None:
        return None  # read through the graph

    @contextmanager
    def one_transaction(self) -> Iterator[tuple[PostgresSaver, PgThreadIndex]]:
        """A saver and an index writing through one connection in one
        transaction: committed together at the end of the block; nothing at all
        if the block raises or the process dies first."""
        with self.pool.connection() as conn, conn.transaction():
            yield PostgresSaver(conn, serde=self.saver.serde), PgThreadIndex(conn)

    def setup(self) -> None:
        """Create or migrate the tables, one instance at a time."""
        key = lock_key(SETUP_LOCK_NAME)
        with connect(self.dsn) as conn:
            # Poll instead of blocking in pg_advisory_lock: a waiting statement
            # holds a snapshot, and CREATE INDEX CONCURRENTLY in the holder's
            # setup would wait for that snapshot forever.
            deadline = time.monotonic() + SETUP_WAIT_S
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() >= deadline:
                    raise StorageError(
                        f"{self.location}: another instance has been setting up the"
                        f" database for {SETUP_WAIT_S:.0f} s; try again"
                    )
                time.sleep(0.1)
            try:
                self.saver.setup()
                self.store.setup()
                with self.pool.connection() as c, c.transaction():
                    for ddl in APP_SCHEMA:
                        c.execute(ddl)
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pool.close()


def open_pool(dsn: str, max_size: int = 8) -> ConnectionPool[Any]:
    pool: ConnectionPool[Any] = ConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "connect_timeout": CONNECT_TIMEOUT_S,
        },
        open=False,
        name="chat-app",
        # After a server restart or failover every pooled connection is dead:
        # check one (an empty query) before handing it out, so each is
        # replaced instead of failing one request apiece.
        check=ConnectionPool.check_connection,
    )
    pool.open(wait=True, timeout=CONNECT_TIMEOUT_S + 1)
    return pool


def open_postgres(settings: Settings) -> PgBackend:
    """Open the database named by ``storage.dsn``, creating the tables if needed."""
    return open_pg(settings.storage.dsn)


def open_pg(dsn: str) -> PgBackend:
    if _IMPORT_ERROR is not None:
        raise StorageError(MISSING_DEPS)
    where = describe_dsn(dsn)
    try:
        pool = open_pool(dsn)
    except PoolTimeout:
        raise StorageError(
            f"{where}: cannot connect to PostgreSQL (is the server running? check storage.dsn)"
        ) from None
    except psycopg.Error as exc:
        raise StorageError(f"{where}: {one_line_error(exc)}") from None
    backend = PgBackend(dsn, pool)
    try:
        backend.setup()
    except psycopg.Error as exc:
        backend.close()
        raise StorageError(f"{where}: cannot set up the tables: {one_line_error(exc)}") from None
    except BaseException:
        backend.close()
        raise
    return backend


def describe_pg_error(where: str, exc: BaseException) -> str:
    """A PostgreSQL error met while working, as one line (like describe_sqlite_error)."""
    detail = one_line_error(exc)
    if _IMPORT_ERROR is None:
        errors = psycopg.errors
        if isinstance(exc, PoolTimeout):
            return f"{where}: cannot get a connection to PostgreSQL (is it running?); try again"
        if isinstance(exc, errors.DiskFull):
            return f"{where}: the database server's disk is full; free some space and try again"
        if isinstance(exc, errors.ReadOnlySqlTransaction):
            return (
                f"{where}: the database is read-only (a standby?); point storage.dsn at the primary"
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return (
                f"{where}: permission denied ({detail}); grant the app's role access to its tables"
            )
        if isinstance(exc, errors.QueryCanceled | errors.LockNotAvailable):
            return f"{where}: the database is busy ({detail}); try again"
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return (
                f"{where}: lost the connection to PostgreSQL ({detail}); what was saved is kept;"
                " try again when the server is back"
            )
    return f"{where}: database error: {detail}"


def one_line_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
