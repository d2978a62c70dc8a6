"""Connecting to PostgreSQL: the optional imports, the pool, plain connections,
advisory-lock keys, and errors as one line."""

from __future__ import annotations

import hashlib
from typing import Any

try:
    import psycopg

    # The saver and the store are part of the extra: missing, the backend is refused.
    from langgraph.checkpoint.postgres import PostgresSaver  # noqa: F401
    from langgraph.store.postgres import PostgresStore  # noqa: F401
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

CONNECT_TIMEOUT_S = 5


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def nul_free(text: str) -> str:
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
