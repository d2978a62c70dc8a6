"""Hostile ids, search strings and filter keys reach SQL only as parameters."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.service import ChatService, ServiceError, ThreadNotFound
from tests.security.conftest import chat

HOSTILE = [
    "x' OR '1'='1",
    'x" OR "1"="1',
    "%",
    "_",
    "\\",
    "\\%",
    "'; DROP TABLE app_threads; --",
    '"; DROP TABLE app_threads; --',
    ") OR 1=1 --",
    "a\x00b",
    "\x00",
    "*",
    "' UNION SELECT thread_id, user_id, title, 1, 1, 'idle' FROM app_threads --",
    "x" * 1_000_000,
]


@pytest.fixture
def two_users(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> tuple[ChatService, ChatService, str, str]:
    data_dir = tmp_path / "data"
    alice = service_factory(data_dir, user={"id": "alice"})
    bob = service_factory(data_dir, user={"id": "bob"})
    a = alice.create_thread("alice thread").id
    chat(alice, a, "alice secret 100% sure")
    b = bob.create_thread("bob thread").id
    chat(bob, b, "bob plain text")
    return alice, bob, a, b


def _tables(service: ChatService) -> set[str]:
    assert service.db_path is not None
    with sqlite3.connect(service.db_path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_search_strings_are_parameters(
    two_users: tuple[ChatService, ChatService, str, str],
) -> None:
    alice, bob, a, b = two_users
    tables = _tables(alice)
    for value in HOSTILE[:-1]:
        found = bob.list_threads(query=value)
        assert a not in {t.id for t in found}, value[:40]
        assert {t.id for t in found} <= {b}
    # LIKE wildcards are literal: '%' matches only a literal percent.
    assert [t.id for t in alice.list_threads(query="%")] == [a]
    assert bob.list_threads(query="%") == []
    assert bob.list_threads(query="_") == []
    assert [t.id for t in alice.list_threads(query="100%")] == [a]
    assert alice.list_threads(query="100%x") == []
    assert bob.list_threads(query="\\") == []
    # A huge search string is refused in one line (SQLite would raise
    # "LIKE or GLOB pattern too complex" past 50,000 bytes).
    with pytest.raises(ServiceError, match="search text is too long"):
        bob.list_threads(query=HOSTILE[-1])
    assert _tables(alice) == tables
    assert len(bob.list_threads()) == 1 and len(alice.list_threads()) == 1


def test_thread_and_checkpoint_ids_are_parameters(
    two_users: tuple[ChatService, ChatService, str, str],
) -> None:
    alice, bob, a, b = two_users
    tables = _tables(alice)
    for value in [*HOSTILE, a]:  # a: another user's real thread id
        for call in (
            lambda v: bob.get_thread(v),
            lambda v: bob.load_messages(v),
            lambda v: bob.history(v),
            lambda v: bob.export_thread(v, "json"),
            lambda v: bob.rename_thread(v, "mine now"),
            lambda v: bob.delete_thread(v),
            lambda v: list(bob.send(v, "hi")),
        ):
            with pytest.raises(ThreadNotFound) as err:
                call(value)
            # Another user's thread is reported exactly like a missing one.
            assert str(err.value).startswith("no thread with id ")
            assert "\n" not in str(err.value) and len(str(err.value)) < 120
    for value in HOSTILE:
        for call in (
            lambda v: bob.load_messages(b, checkpoint_id=v),
            lambda v: bob.rewind(b, v),
            lambda v: list(bob.send(b, "hi", from_checkpoint=v)),
        ):
            with pytest.raises(ServiceError, match="no checkpoint"):
                call(value)
    # A checkpoint id of another thread (of another user) is refused too.
    alice_cp = alice.history(a).head_id
    assert alice_cp is not None
    with pytest.raises(ServiceError, match="no checkpoint"):
        bob.load_messages(b, checkpoint_id=alice_cp)
    with pytest.raises(ServiceError, match="no checkpoint"):
        bob.rewind(b, alice_cp)
    assert _tables(alice) == tables
    assert alice.load_messages(a)[0].text == "alice secret 100% sure"
    assert alice.get_thread(a).title == "alice thread"


def test_checkpoint_filter_keys_cannot_inject(
    two_users: tuple[ChatService, ChatService, str, str],
) -> None:
    _alice, bob, _a, b = two_users
    saver = bob.backend.saver
    for key in ["x') OR '1'='1", "source') OR 1=1 --", 'a"b', "$.x", "step' OR 1=1 --"]:
        try:
            rows = list(saver.list(None, filter={key: 1}))
        except ValueError:
            continue
        assert rows == [], key
    # Filtering one thread never yields another thread's rows.
    cfg = {"configurable": {"thread_id": b}}
    with pytest.raises(ValueError):
        list(saver.list(cfg, filter={"source') OR '1'='1": "loop"}))  # type: ignore[arg-type]
    rows = list(saver.list(cfg, filter={"source": "loop"}))  # type: ignore[arg-type]
    assert rows and all(r.config["configurable"]["thread_id"] == b for r in rows)
    rows = list(saver.list({"configurable": {"thread_id": "x' OR '1'='1"}}))
    assert rows == []
