"""The graph on real SQLite: delta storage, rewind/fork exactness, migrations."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from chat_app.service import ChatService
from chat_app.storage.serde import strict_serde
from chat_app.storage.sqlite.fast_saver import FastSqliteSaver
from graphs.state import STATE_VERSION, add_message_batches
from tests.conftest import chat, snapshots


def texts(service: ChatService, thread_id: str, checkpoint_id: str | None = None) -> list[str]:
    return [m.text for m in service.load_messages(thread_id, checkpoint_id)]


def test_rewind_and_fork_give_exactly_the_right_messages(
    frequent_snapshots: int, service_factory: Callable[..., ChatService]
) -> None:
    service = service_factory()
    t = service.create_thread().id
    # Enough turns to cross several full snapshots of the message list.
    for i in range(130):
        chat(service, t, f"turn {i}")
    full = texts(service, t)
    assert len(full) == 260
    assert snapshots(service, t) >= 10
    timeline = service.branch_timeline(t)
    inputs = {c.summary: c.id for c in timeline if c.kind == "user"}
    for n in (0, 37, 101, 129):
        cp = inputs[f"you: turn {n}"]
        # The state at the input checkpoint is the conversation before turn n.
        assert texts(service, t, cp) == full[: 2 * n]
    service.rewind(t, inputs["you: turn 101"])
    assert texts(service, t) == full[:202]
    chat(service, t, "another path")
    after = texts(service, t)
    assert after[:202] == full[:202]
    assert after[202] == "another path" and len(after) == 204
    # The old branch is untouched and still reachable.
    hist = service.history(t)
    old_head = max(c.id for c in hist.checkpoints if c.id not in hist.branch_ids)
    assert texts(service, t, old_head) == full
    # Forking again from the old branch's last turn continues that branch.
    before_last = inputs["you: turn 129"]
    for _ in service.send(t, "fork of the old branch", from_checkpoint=before_last):
        pass
    assert texts(service, t)[:258] == full[:258]
    assert texts(service, t)[258] == "fork of the old branch"


def _replayed(history: Any) -> list[str]:
    """The channel's value from a history, as LangGraph replays it."""
    seed = history.get("seed")
    base = list(getattr(seed, "value", seed) or [])
    values = [v for _, _, v in history["writes"]]
    return [m.id for m in (add_message_batches(base, values) if values else base)]


def test_fast_ancestor_walk_matches_langgraph_default(
    frequent_snapshots: int, service_factory: Callable[..., ChatService]
) -> None:
    service = service_factory()
    t = service.create_thread().id
    for i in range(120):
        chat(service, t, f"m{i}")
    assert snapshots(service, t) >= 10
    tl = service.branch_timeline(t)
    service.rewind(t, next(c.id for c in tl if c.summary == "you: m50"))
    for i in range(5):
        chat(service, t, f"b{i}")
    saver = service.backend.saver  # warm: it folded and kept values while chatting
    assert service.db_path is not None
    cold = FastSqliteSaver(
        sqlite3.connect(service.db_path, check_same_thread=False), serde=strict_serde()
    )
    checked = 0
    for cp in service.history(t).checkpoints[::7]:
        cfg: Any = {"configurable": {"thread_id": t, "checkpoint_ns": "", "checkpoint_id": cp.id}}
        slow = BaseCheckpointSaver.get_delta_channel_history(
            saver, config=cfg, channels=["messages"]
        )
        want = _replayed(slow["messages"])
        # Twice each: the second read comes from the folded value kept by the first.
        for fast in (saver, saver, cold):
            got = fast.get_delta_channel_history(config=cfg, channels=["messages"])
            assert _replayed(got["messages"]) == want, cp
        # The walk without folding hands LangGraph the same seed and writes.
        raw = cold.get_delta_channel_history(config=cfg, channels=["messages"])
        assert raw["messages"]["writes"] == slow["messages"]["writes"], cp
        checked += 1
    assert checked > 50


def test_folded_values_follow_a_rewind_and_a_fork(service: ChatService) -> None:
    """Values are kept per checkpoint: one branch never sees another's messages."""
    t = service.create_thread().id
    for i in range(12):
        chat(service, t, f"m{i}")
    users = [f"m{i}" for i in range(12)]
    assert texts(service, t)[::2] == users
    tl = service.branch_timeline(t)
    service.rewind(t, next(c.id for c in tl if c.summary == "you: m4"))
    chat(service, t, "fork")
    assert texts(service, t)[::2] == [*users[:4], "fork"]
    hist = service.history(t)
    old_head = max(c.id for c in hist.checkpoints if c.id not in hist.branch_ids)
    assert texts(service, t, old_head)[::2] == users
    service.rewind(t, old_head)
    chat(service, t, "after")
    assert texts(service, t)[::2] == [*users, "after"]
    # Forking the old branch again gives that branch, not the newer one.
    for _ in service.send(t, "again", from_checkpoint=old_head):
        pass
    assert texts(service, t)[::2] == [*users, "again"]


def test_storage_per_turn_does_not_grow_with_the_conversation(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> None:
    service = service_factory(tmp_path / "grow")
    t = service.create_thread().id
    db = service.db_path
    text = "x" * 190

    def size() -> int:
        service.backend.app_conn  # type: ignore[attr-defined].execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return os.path.getsize(db)

    for i in range(100):
        chat(service, t, f"{i} {text}")
    first = size()
    for i in range(100, 300):
        chat(service, t, f"{i} {text}")
    later = (size() - first) / 200
    early = first / 100
    # A plain message list would make later turns cost several times more.
    assert later < 1.6 * early, (early, later)
    # LangGraph's own format (no compression) and the running summary copied
    # into every checkpoint of a thread past the offline window: 6.3 MB at 300
    # turns here (it was under 5 MB compressed; see README "Benchmarks").
    assert size() < 8_000_000


class V0State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def test_thread_written_with_an_older_schema_is_migrated(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> None:
    data = tmp_path / "old"
    service = service_factory(data)
    thread = service.create_thread("old thread").id
    service.close()
    # A v0 graph: a plain add_messages list, no state_version, no settings.
    builder = StateGraph(V0State)
    builder.add_node(
        "reply", lambda s: {"messages": [AIMessage(content="v0 reply", id=str(uuid.uuid4()))]}
    )
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    conn = sqlite3.connect(data / "chat.db", check_same_thread=False)
    old = builder.compile(checkpointer=SqliteSaver(conn, serde=strict_serde()))
    cfg: Any = {"configurable": {"thread_id": thread}}
    old.invoke({"messages": [HumanMessage(content="My name is Zed", id="m0")]}, cfg)
    conn.close()

    service = service_factory(data)
    assert texts(service, thread) == ["My name is Zed", "v0 reply"]
    chat(service, thread, "still here?")
    values = service.graph.get_state({"configurable": {"thread_id": thread}}).values
    assert values["state_version"] == STATE_VERSION
    assert values["settings"] == {}
    assert [m.content for m in values["messages"]][:3] == [
        "My name is Zed",
        "v0 reply",
        "still here?",
    ]


def test_versions_are_plain_counters_that_sort_after_the_old_format() -> None:
    saver = FastSqliteSaver(sqlite3.connect(":memory:", check_same_thread=False))
    old = SqliteSaver.get_next_version(saver, None, None)  # "...01.0.<random digits>"
    for _ in range(40):
        old = SqliteSaver.get_next_version(saver, old, None)
    new = saver.get_next_version(old, None)
    assert new == f"{42:032}" and new > old
    assert saver.get_next_version(new, None) > new
    assert saver.get_next_version(None, None) == f"{1:032}"
