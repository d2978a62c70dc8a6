"""Shared fixtures: a real ChatService on a real SQLite file in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Strict deserialization for everything the tests import, as in the app.
os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")

from chat_app.config import Settings, load_settings
from chat_app.service import ChatService
from tests.fake_openai import FakeOpenAI

# The Redis 8 test server (fixtures redis8_url, redis8).
pytest_plugins = ("tests.redis8",)


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {
        "storage": {"data_dir": str(data_dir)},
        "model": {"offline_token_delay_ms": 0},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_settings(None, env={}, overrides=overrides, use_user_config=False)


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., ChatService]]:
    made: list[ChatService] = []

    def make(data_dir: Path | None = None, **sections: dict[str, Any]) -> ChatService:
        svc = ChatService(make_settings(data_dir or tmp_path / "data", **sections))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def service(service_factory: Callable[..., ChatService]) -> ChatService:
    return service_factory()


@pytest.fixture
def frequent_snapshots(monkeypatch: pytest.MonkeyPatch) -> int:
    """A full snapshot of the message list every 20 updates (10 turns) in the
    graphs built from now on (the state schema reads the constant when a graph
    is built), so that a short thread crosses several."""
    import graphs.state

    monkeypatch.setattr(graphs.state, "SNAPSHOT_FREQUENCY", 20)
    return 20


def snapshots(service: ChatService, thread_id: str) -> int:
    """How many checkpoints of the thread hold a full snapshot of the messages."""
    assert service.db_path is not None
    import sqlite3

    conn = sqlite3.connect(service.db_path)
    try:
        row = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = ? AND json_extract("
            "CAST(metadata AS TEXT), '$.counters_since_delta_snapshot.messages') IS NULL"
            " AND json_extract(CAST(metadata AS TEXT), '$.step') > 0",
            (thread_id,),
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def chat(service: ChatService, thread_id: str, text: str) -> str:
    """Send ``text`` and return the finished reply's text."""
    from chat_app.service.events import ReplyFailed, ReplyFinished

    reply = ""
    for ev in service.send(thread_id, text):
        if isinstance(ev, ReplyFinished):
            reply = ev.message.text
        elif isinstance(ev, ReplyFailed):
            raise AssertionError(f"reply failed: {ev.reason}")
    return reply


# Environment that would send the OpenAI client somewhere else than the
# loopback server (other endpoints, proxies, keys): cleared for these tests.
REDIRECTING_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_PROXY",
    "OPENAI_ORG_ID",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def _no_env_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: nothing in the environment redirects or authenticates a model client."""
    for name in REDIRECTING_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server
