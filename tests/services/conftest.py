"""Fixtures for the integration tests against real PostgreSQL and Redis.

Each test session gets its own database (``chatapp_test_<random>``, created
from ``test`` and dropped at the end); each test gets its own schema in it,
so tests never see each other's rows. Redis keys are namespaced by user and
thread ids, which are unique per test.

When a server is not reachable the tests skip, naming the server; in CI
(``CI=true``) they fail instead: CI must run them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_app.service import ChatService
from tests.conftest import make_settings
from tests.redis8 import require_redis_checkpoint

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.services)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _missing(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} (CI=true: the services must run in CI)", pytrace=False)
    pytest.skip(msg)


def require_postgres() -> None:
    if not _reachable(PG_HOST, PG_PORT):
        _missing(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("PostgreSQL client psycopg not installed (pip install 'chat-app[postgres]')")


def require_redis() -> None:
    if not _reachable(REDIS_HOST, REDIS_PORT):
        _missing(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """DSN of a fresh database for this test session."""
    require_postgres()
    name = f"chatapp_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with contextlib.suppress(Exception):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_schema_dsn(database_dsn: str) -> str:
    """DSN whose search_path is a schema created now in that database."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{database_dsn}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_dsn(pg_database: str) -> str:
    """DSN whose search_path is a fresh schema of this test."""
    return new_schema_dsn(pg_database)


@pytest.fixture
def redis_url() -> str:
    require_redis()
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def backend_target(request: pytest.FixtureRequest, backend: str) -> str:
    """Where ``backend`` keeps this test's data: a fresh PostgreSQL schema, the
    emptied Redis 8 test server, or "" (SQLite in tmp_path, memory)."""
    if backend == "postgres":
        return str(request.getfixturevalue("pg_dsn"))
    if backend == "redis":
        require_redis_checkpoint()
        request.getfixturevalue("redis8")  # emptied for this test
        return str(request.getfixturevalue("redis8_url"))
    return ""


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., ChatService]]:
    """``make_service(backend, dsn=..., user=..., redis_url=...)``: a ChatService
    on SQLite (in tmp_path), PostgreSQL or Redis (``dsn`` is then the Redis
    URL; ``redis_url`` is always the short-term tier's); closed at the end of
    the test."""
    made: list[ChatService] = []

    def make(
        backend: str = "sqlite",
        *,
        dsn: str = "",
        user: str = "alice",
        redis_url: str = "",
        data_dir: Path | None = None,
        **sections: dict[str, Any],
    ) -> ChatService:
        storage: dict[str, Any] = {"backend": backend}
        if backend == "postgres":
            storage["dsn"] = dsn
        elif backend == "redis":
            storage["redis_url"] = dsn
        svc = ChatService(
            make_settings(
                data_dir or tmp_path / "data",
                storage=storage,
                user={"id": user},
                short_term={"redis_url": redis_url},
                **sections,
            )
        )
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


def checkpoint_tree(svc: ChatService, tid: str) -> list[tuple[str, str | None, int, str, str, str]]:
    """The thread's history as the history pane lists it (every branch)."""
    return [
        (c.id, c.parent_id, c.step, c.source, c.kind, c.summary)
        for c in svc.history(tid).checkpoints
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own (never the shared one on 6379)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe is not None
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        _missing("Redis server binary redis-server not installed")
    r = PrivateRedis(tmp_path)
    r.start()
    try:
        yield r
    finally:
        r.kill()


def app_env(dsn: str, redis_url: str, data_dir: Path, user: str = "alice") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_APP_")}
    env.update(
        {
            "CHAT_APP_STORAGE_BACKEND": "postgres",
            "CHAT_APP_STORAGE_DSN": dsn,
            "CHAT_APP_SHORT_TERM_REDIS_URL": redis_url,
            "CHAT_APP_DATA_DIR": str(data_dir),
            "CHAT_APP_USER": user,
            "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": "0",
            "PYTHONPATH": str(ROOT),
            "XDG_CONFIG_HOME": str(data_dir / "config"),
        }
    )
    return env


PYTHON = sys.executable
