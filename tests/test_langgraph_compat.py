"""Readers do not take a checkpoint without delta counters for a snapshot."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from chat_app.service import ChatService
from chat_app.storage.sqlite.head_reader import read_head
from graphs.langgraph_compat import COUNTERS
from tests.conftest import chat


def test_checkpoints_without_delta_counters_still_read_the_whole_thread(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    """Some LangGraph releases wrote no delta counters: every checkpoint then
    looked like a snapshot, and a thread showed only its newest turn."""
    data = tmp_path / "data"
    svc = service_factory(data)
    t = svc.create_thread().id
    for text in ("first", "second", "third"):
        chat(svc, t, text)
    before = svc.load_messages(t)
    middle = next(c.id for c in svc.branch_timeline(t) if c.summary == "you: second")
    at_middle = svc.load_messages(t, middle)
    svc.close()
    conn = sqlite3.connect(data / "chat.db")
    with conn:
        conn.execute(f"UPDATE checkpoints SET metadata = json_remove(metadata, '$.{COUNTERS}')")
    head = read_head(conn, t)
    conn.close()
    assert head is not None and [m.text for m in head] == [m.text for m in before]
    again = service_factory(data)
    assert [m.text for m in again.load_messages(t)] == [m.text for m in before]
    assert [m.text for m in again.load_messages(t, middle)] == [m.text for m in at_middle]
    assert len(at_middle) == 2
