"""What the service refuses and how a storage failure reads: one line for the person."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from chat_app.service.local_state import LOCAL_FILE
from graphs.errors import ProfileStoreError

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.

    from chat_app.service.facade import ChatService


class ServiceError(Exception):
    """A request the service refuses; the message is one line for the person."""


class ThreadNotFound(ServiceError):
    pass


class AmbiguousThreadId(ServiceError):
    """A short thread id that more than one of the user's threads start with."""


class DamagedCheckpoint(ServiceError):
    """A saved checkpoint cannot be read (tampered with or corrupted)."""


def storage_errors() -> tuple[type[Exception], ...]:
    """What a storage failure raises: sqlite3.Error, a failing profile store
    (whatever its cause), and psycopg.Error once the PostgreSQL backend has
    loaded psycopg (not imported here: SQLite needs none)."""
    pg = sys.modules.get("psycopg")
    found: tuple[type[Exception], ...] = (sqlite3.Error, ProfileStoreError)
    return (*found, pg.Error) if pg is not None else found


def _storage_message(svc: ChatService, exc: Exception) -> str:
    from chat_app.storage.sqlite.backend import SqliteBackend, describe_sqlite_error

    if isinstance(exc, ProfileStoreError):
        # A database error under it is described like any other, and named.
        cause = exc.__cause__
        db_errors = tuple(e for e in storage_errors() if e is not ProfileStoreError)
        if not isinstance(cause, db_errors):
            return str(exc)
        return svc._storage_message(cause) + " (profile store)"
    if not isinstance(exc, sqlite3.Error):
        from chat_app.storage.postgres.connection import describe_pg_error

        return describe_pg_error(svc.backend.location, exc)
    if isinstance(svc.backend, SqliteBackend):
        return svc.backend.describe_error(exc)  # also stops writes to a damaged file
    return describe_sqlite_error(Path(svc.backend.location), exc)


def describe_storage_error(svc: ChatService, exc: Exception) -> str:
    """One line for a storage error that reached the caller (see _storage_message)."""
    return svc._storage_message(exc)


@contextlib.contextmanager
def _storage_errors(svc: ChatService) -> Iterator[None]:
    """A database error (busy, read-only, disk full, damaged) as one clear line."""
    try:
        yield
    except storage_errors() as exc:
        raise ServiceError(svc._storage_message(exc)) from None


@contextlib.contextmanager
def _outbox_errors(svc: ChatService) -> Iterator[None]:
    from chat_app.storage.sqlite.backend import describe_sqlite_error

    try:
        yield
    except sqlite3.Error as exc:
        path = svc.settings.data_dir / LOCAL_FILE
        raise ServiceError(describe_sqlite_error(path, exc)) from None
    except storage_errors() as exc:
        raise ServiceError(svc._storage_message(exc)) from None
