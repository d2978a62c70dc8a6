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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chat_app.storage.backend import ReadThroughSaver
from chat_app.storage.errors import StorageError
from chat_app.storage.postgres.connection import (
    _IMPORT_ERROR,
    MISSING_DEPS,
    connect,
    describe_dsn,
    lock_key,
    one_line_error,
    open_pool,
)
from chat_app.storage.postgres.index import APP_SCHEMA, PgThreadIndex
from chat_app.storage.postgres.locks import PgWriterLock
from chat_app.storage.serde import strict_serde

if TYPE_CHECKING:
    from chat_app.config import Settings
    from chat_app.storage.postgres.maintenance import PgUpkeep

try:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.store.postgres import PostgresStore
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError:  # pragma: no cover - open_pg says what is missing (MISSING_DEPS)
    pass


# Advisory lock keys are 64-bit; the app derives its own from names.
SETUP_LOCK_NAME = "chat-app:setup"
SETUP_WAIT_S = 120.0


class PgBackend(ReadThroughSaver):
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

    def lock(self, thread_id: str) -> PgWriterLock:
        return PgWriterLock(self.dsn, thread_id)

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

    def upkeep(self) -> PgUpkeep:
        from chat_app.storage.postgres.maintenance import PgUpkeep

        return PgUpkeep(self.pool)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pool.close()


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
