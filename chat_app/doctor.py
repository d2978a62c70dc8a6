"""`chat-app doctor`: what is wrong with this installation, and what to do.

Runs before (and without) the service, so it works on a database the app
refuses to open. It only reads: the database is opened read-only, nothing is
created, repaired or deleted. Each check prints one line, ``OK``, ``WARN`` or
``FAIL``, followed by what to do; the exit status is 1 when any check failed.
The API key is never printed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chat_app.doctor_storage import (
    check_file_modes,
    check_thread_heads,
    check_unlisted_threads,
    open_read_only,
)

if TYPE_CHECKING:
    from chat_app.config import Settings
    from chat_app.storage.upkeep import ThreadSize

LOW_DISK_BYTES = 100 * 1024 * 1024
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class Doctor:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failed = 0

    def line(self, text: str) -> None:
        """Every line doctor prints: details quote URLs, paths and server errors,
        so passwords are redacted and control characters made visible."""
        from chat_app.safe_text import echo, redact_secrets

        echo(redact_secrets(text), file=self.out)

    def ok(self, what: str, detail: str) -> None:
        self.line(f"OK    {what}: {detail}")

    def warn(self, what: str, detail: str) -> None:
        self.line(f"WARN  {what}: {detail}")

    def fail(self, what: str, detail: str) -> None:
        self.failed += 1
        self.line(f"FAIL  {what}: {detail}")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_permissions(d: Doctor, data_dir: Path, db: Path) -> None:
    problems = []
    if _mode(data_dir) & (stat.S_ISVTX | stat.S_IWOTH):
        # /tmp and the like: chmod 700 would lock everyone else out of it.
        problems.append(
            f"{data_dir} is {_mode(data_dir):04o}, a directory shared with others;"
            " keep the data in a private one (--data-dir)"
        )
    elif _mode(data_dir) & 0o077:
        problems.append(f"{data_dir} is {_mode(data_dir):04o}; run: chmod 700 {data_dir}")
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if p.exists() and _mode(p) & 0o077:
            problems.append(f"{p} is {_mode(p):04o}; run: chmod 600 {p}")
    if problems:
        d.fail("permissions", "; ".join(problems))
    else:
        d.ok("permissions", f"{data_dir} and the database files: not open to others")
    if not os.access(data_dir, os.W_OK) or not os.access(db, os.W_OK):
        d.fail(
            "writable",
            f"{db} or its directory is read-only; the app cannot save."
            f" Fix with: chmod u+w {data_dir} {db} (or use another --data-dir)",
        )


def check_database(d: Doctor, db: Path, full: bool) -> sqlite3.Connection | None:
    what = "integrity_check" if full else "quick_check"
    try:
        conn, not_read = open_read_only(db)
        t0 = time.monotonic()
        rows = conn.execute(f"PRAGMA {what}").fetchall()
        took = time.monotonic() - t0
    except sqlite3.DatabaseError as exc:
        d.fail(
            "database",
            f"{db}: cannot be read ({' '.join(str(exc).split())});"
            " it is damaged or not a chat-app database."
            " Keep the file (do not delete it); restore a backup or copy it elsewhere for repair"
            " (sqlite3 chat.db .recover)",
        )
        return None
    if rows != [("ok",)]:
        first = " ".join(str(rows[0][0]).split()) if rows else "no answer"
        d.fail(
            "database",
            f"{db}: {what} found damage ({first[:100]}; {len(rows)} problems). Keep the file;"
            " restore a backup, or recover what is readable: sqlite3 chat.db .recover > dump.sql",
        )
        conn.close()
        return None
    d.ok("database", f"{db}: PRAGMA {what} ok ({took * 1000:.0f} ms)")
    if not_read:
        d.warn("database", not_read)
    return conn


def check_runs(d: Doctor, conn: Any) -> None:
    """``conn``: a sqlite3 or a psycopg connection (both give tuples here)."""
    try:
        rows = conn.execute(
            "SELECT thread_id FROM app_threads WHERE run_state = 'running'"
        ).fetchall()
    except sqlite3.Error:
        return
    if rows:
        ids = ", ".join(r[0] for r in rows[:3]) + (" ..." if len(rows) > 3 else "")
        d.warn(
            "interrupted replies",
            f"{len(rows)} thread(s) with a reply that did not finish ({ids});"
            " run `chat-app --auto-resume recover`, or `chat-app resume ID` / `discard ID`",
        )
    else:
        d.ok("interrupted replies", "none")


def check_storage(d: Doctor, conn: sqlite3.Connection, db: Path) -> None:
    from chat_app.storage.sqlite.maintenance import db_file_bytes, thread_sizes
    from chat_app.storage.upkeep import human_bytes

    try:
        sizes = thread_sizes(conn)
    except sqlite3.Error:
        sizes = []
    top = ", ".join(
        f"{s.thread_id[:8]} {human_bytes(s.bytes)} ({s.checkpoints} checkpoints)" for s in sizes[:5]
    )
    d.ok(
        "storage",
        f"{human_bytes(db_file_bytes(db))} on disk, {len(sizes)} threads"
        + (f"; largest: {top}" if top else "")
        + " (`chat-app prune --dry-run` shows what old branches could go)",
    )


def check_locks(d: Doctor, lock_dir: Path) -> None:
    if not lock_dir.is_dir():
        d.ok("locks", "no lock files")
        return
    files = sorted(lock_dir.glob("*.lock"))
    held = 0
    for f in files:
        try:
            fd = os.open(f, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            held += 1
        finally:
            os.close(fd)
    d.ok(
        "locks",
        f"{len(files)} lock files, {held} held by a running chat-app; a lock whose holder"
        " died is released by the kernel and never blocks",
    )


def check_disk(d: Doctor, data_dir: Path) -> None:
    free = shutil.disk_usage(data_dir).free
    from chat_app.storage.upkeep import human_bytes

    if free < LOW_DISK_BYTES:
        d.warn("disk", f"only {human_bytes(free)} free under {data_dir}; free some space")
    else:
        d.ok("disk", f"{human_bytes(free)} free")


def size_table(sizes: list[ThreadSize], top: int = 10) -> list[str]:
    """The largest threads, one per line, for under a storage line."""
    from chat_app.storage.upkeep import human_bytes

    if not sizes:
        return []
    lines = [f"      {'thread':<36}  {'size':>9}  checkpoints"]
    lines += [
        f"      {s.thread_id:<36}  {human_bytes(s.bytes):>9}  {s.checkpoints}" for s in sizes[:top]
    ]
    if len(sizes) > top:
        lines.append(f"      ... and {len(sizes) - top} smaller threads")
    return lines


def check_postgres(d: Doctor, dsn: str) -> None:
    """Connectivity, server version, the app's tables, interrupted replies,
    thread sizes and held thread locks; read-only (a read-only transaction)."""
    try:
        import psycopg

        from chat_app.storage.postgres import maintenance as pm
        from chat_app.storage.postgres.connection import (
            CONNECT_TIMEOUT_S,
            describe_dsn,
            one_line_error,
        )
        from chat_app.storage.upkeep import human_bytes
    except ImportError:
        d.fail(
            "postgres",
            "storage.backend = 'postgres' needs the PostgreSQL extra:"
            " pip install 'chat-app[postgres]'",
        )
        return
    where = describe_dsn(dsn)
    t0 = time.monotonic()
    try:
        conn = psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        d.fail(
            "postgres",
            f"cannot connect to {where} ({one_line_error(exc)});"
            " is the server running? check storage.dsn",
        )
        return
    took = time.monotonic() - t0
    try:
        conn.read_only = True
        version = conn.execute("SHOW server_version").fetchone()
        d.ok(
            "postgres",
            f"connected to {where} in {took * 1000:.0f} ms, server version"
            f" {version[0] if version else '?'}",
        )
        present = set(pm.present_tables(conn))
        missing = [t for t in pm.ALL_TABLES if t not in present]
        if not present:
            d.ok("tables", "none yet; the app creates them on first use")
            return
        if missing:
            d.fail(
                "tables",
                f"missing {', '.join(missing)}; start chat-app once to create them"
                " (set-up runs the migrations), or check storage.dsn's database and search_path",
            )
            return
        d.ok("tables", f"all {len(pm.ALL_TABLES)} present ({', '.join(pm.ALL_TABLES)})")
        check_runs(d, conn)
        sizes = pm.thread_sizes(conn)
        top = ", ".join(
            f"{s.thread_id[:8]} {human_bytes(s.bytes)} ({s.checkpoints} checkpoints)"
            for s in sizes[:5]
        )
        d.ok(
            "storage",
            f"{human_bytes(pm.tables_bytes(conn))} in the app's tables, {len(sizes)} threads"
            + (f"; largest: {top}" if top else "")
            + " (`chat-app prune --dry-run` shows what old branches could go)",
        )
        for line in size_table(sizes):
            d.line(line)
        held = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        d.ok(
            "locks",
            f"{held[0] if held else 0} advisory locks held by running chat-apps; a lock"
            " whose holder died goes with its session and never blocks",
        )
    except psycopg.Error as exc:
        d.fail("postgres", f"{where}: {one_line_error(exc)}")
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
            conn.close()


def check_redis(d: Doctor, url: str) -> None:
    """The optional short-term tier: a WARN, not a FAIL, when it is down (the
    app keeps working on the database alone)."""
    try:
        import redis
    except ImportError:
        d.warn("redis", "short_term.redis_url is set but the redis client is not installed")
        return
    safe = url.split("@")[-1] if "@" in url else url.split("://")[-1]
    try:
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        d.warn(
            "redis",
            f"{safe}: not reachable ({exc}); the app works on the database alone"
            " (short-term tier degraded) and reconnects by itself",
        )
        return
    d.ok("redis", f"{safe}: reachable")


def check_redis_storage(d: Doctor, url: str) -> None:
    """The redis backend: reachable, with JSON and the Query Engine."""
    from chat_app.storage.errors import StorageError

    try:
        from chat_app.storage.redis.backend import open_redis
    except ImportError as exc:  # pragma: no cover - the extra is missing
        d.fail("redis", f"storage.backend = 'redis' needs the Redis extra ({exc})")
        return
    try:
        backend = open_redis(url)
    except StorageError as exc:
        d.fail("redis", str(exc))
        return
    d.ok("redis", f"{backend.location}: reachable, with JSON and the Query Engine")
    backend.close()


def check_model(d: Doctor, settings: Settings) -> None:
    name = settings.model.name
    if name == "offline":
        d.ok("model", "offline (no network, no key needed)")
        return
    base = (settings.model.base_url or DEFAULT_OPENAI_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        d.fail("model", f"model.base_url {base!r} must start with http:// or https://")
        return
    req = urllib.request.Request(base + "/models", method="GET")  # noqa: S310
    if settings.api_key:
        req.add_header("Authorization", f"Bearer {settings.api_key}")
    timeout = min(settings.model.connect_timeout_s, 5.0)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        d.fail(
            "model",
            f"cannot reach {base} ({reason}); check model.base_url and that the server runs",
        )
        return
    if status in (401, 403):
        d.fail("model", f"{base} refused the API key (HTTP {status}); check OPENAI_API_KEY")
    elif status == 404:
        d.warn("model", f"{base} answers but has no /models (HTTP 404); chat may still work")
    elif status >= 400:
        d.fail("model", f"{base}/models answered HTTP {status}")
    else:
        key = "key set" if settings.api_key else "no key set"
        d.ok("model", f"{name} at {base} reachable (HTTP {status}, {key})")


def check_profile_store(d: Doctor, settings: Settings) -> None:
    """Read the current user's profile through the store the app uses: a user
    whose profile cannot be read gets no reply at all, so this is a FAIL."""
    from graphs.profile import read_profile

    user = settings.user_id
    conn: Any = None
    try:
        if settings.storage.backend == "postgres":
            import psycopg
            from langgraph.store.postgres import PostgresStore
            from psycopg.rows import dict_row

            from chat_app.storage.postgres.connection import CONNECT_TIMEOUT_S

            try:
                conn = psycopg.connect(
                    settings.storage.dsn,
                    autocommit=True,
                    prepare_threshold=0,
                    row_factory=dict_row,
                    connect_timeout=CONNECT_TIMEOUT_S,
                )
            except psycopg.Error:
                return  # check_postgres already failed on it
            store: Any = PostgresStore(conn)
        else:
            from langgraph.store.sqlite import SqliteStore

            from chat_app.storage.sqlite.backend import DB_NAME

            db = settings.data_dir / DB_NAME
            if settings.storage.backend != "sqlite" or not db.exists():
                return
            from chat_app.doctor_storage import open_read_only

            conn, _note = open_read_only(db)
            store = SqliteStore(conn)
            store.is_setup = True  # read only: its set-up would write
        facts = read_profile(store, user)
    except ImportError:
        return  # check_postgres already said what to install
    except Exception as exc:
        detail = " ".join(str(exc.__cause__ or exc).split())[:200]
        if "store" in detail and ("no such table" in detail or "does not exist" in detail):
            d.ok("profile", f"user {user!r}: no profile yet; it is created on first use")
        else:
            d.fail(
                "profile",
                f"cannot read the profile of user {user!r} ({detail}); every reply and the"
                " Profile tab fail until this is fixed",
            )
        return
    finally:
        if conn is not None:
            conn.close()
    d.ok("profile", f"user {user!r}: {len(facts)} fact(s) readable")


def run_doctor(
    load: Callable[[list[str]], Settings], *, full: bool = False, out: TextIO | None = None
) -> int:
    from chat_app.config import ConfigError
    from chat_app.storage.sqlite.backend import DB_NAME

    d = Doctor(out or __import__("sys").stdout)
    warnings: list[str] = []
    try:
        settings = load(warnings)
    except ConfigError as exc:
        d.fail("config", f"{exc}")
        return 1
    for w in warnings:
        d.warn("config", f"{w}; remove it or check its spelling")
    d.ok("config", "loaded from " + ", ".join(settings.sources))
    if settings.storage.backend == "postgres":
        check_postgres(d, settings.storage.dsn)
        if settings.short_term.redis_url:
            check_redis(d, settings.short_term.redis_url)
    elif settings.storage.backend == "redis":
        check_redis_storage(d, settings.storage.redis_url)
    elif settings.storage.backend == "memory":
        d.ok("storage", "memory: nothing is saved, so there is no database or file to check")
    elif settings.storage.backend != "sqlite":
        d.warn("storage", f"backend {settings.storage.backend}: database checks not run here")
    else:
        data_dir = settings.data_dir
        db = data_dir / DB_NAME
        if not db.exists():
            d.ok("database", f"{db} does not exist yet; it is created on first use")
        else:
            check_permissions(d, data_dir, db)
            check_file_modes(d, db)
            conn = check_database(d, db, full)
            if conn is not None:
                check_runs(d, conn)
                check_storage(d, conn, db)
                check_thread_heads(d, conn)
                check_unlisted_threads(d, conn)
                conn.close()
            check_locks(d, data_dir / "locks")
        if data_dir.exists():
            check_disk(d, data_dir)
    check_profile_store(d, settings)
    check_model(d, settings)
    d.line("healthy" if not d.failed else f"{d.failed} problem(s) found")
    return 1 if d.failed else 0
