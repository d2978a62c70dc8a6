"""Opening a thread reads its conversation directly from SQLite, without the
agent, and reads exactly what the graph reads; what the direct read does not
know, it leaves to the graph."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, RemoveMessage, SystemMessage

from chat_app.service import ChatService, DamagedCheckpoint, _chat_messages
from chat_app.service.events import ChatMessage
from graphs.state import SNAPSHOT_FREQUENCY
from tests.conftest import chat, make_settings


def through_graph(svc: ChatService, thread_id: str) -> list[ChatMessage]:
    return _chat_messages(svc._state_values(thread_id).get("messages", []))


def direct(svc: ChatService, thread_id: str) -> list[ChatMessage] | None:
    return svc.backend.head_messages(thread_id)


def same_either_way(svc: ChatService, thread_id: str) -> list[ChatMessage]:
    read = direct(svc, thread_id)
    assert read is not None
    assert read == through_graph(svc, thread_id)
    return read


def test_direct_read_equals_the_graph_across_snapshots_rewinds_and_forks(
    service: ChatService,
) -> None:
    t = service.create_thread().id
    assert same_either_way(service, t) == []
    turns = SNAPSHOT_FREQUENCY // 2 + 10  # two updates a turn: past the first snapshot
    for i in range(turns):
        chat(service, t, f"message {i}")
    msgs = same_either_way(service, t)
    assert [m.text for m in msgs][::2] == [f"message {i}" for i in range(turns)]
    assert service.load_messages(t) == msgs

    # Rewind before the snapshot, then continue on the new branch.
    early = next(c for c in service.branch_timeline(t) if c.summary == "you: message 5")
    assert [m.text for m in service.rewind(t, early.id)][::2] == [f"message {i}" for i in range(5)]
    assert len(same_either_way(service, t)) == 10
    chat(service, t, "another path")
    assert [m.text for m in same_either_way(service, t)][-2] == "another path"

    # Regenerate and edit: forks at a message, both read alike.
    for _ in service.regenerate(t):
        pass
    assert len(same_either_way(service, t)) == 12
    first = same_either_way(service, t)[0]
    for _ in service.edit_and_resend(t, first.id, "a new start"):
        pass
    assert same_either_way(service, t)[0].text == "a new start"


def test_a_thread_with_a_running_summary_reads_alike_and_shows_every_message(
    tmp_path: Path,
) -> None:
    svc = ChatService(
        make_settings(tmp_path / "data", model={"context_tokens": 600, "reply_tokens": 150})
    )
    try:
        t = svc.create_thread().id
        for i in range(15):
            chat(svc, t, f"message {i} in a thread longer than its window")
        summary = svc.history_summary(t)
        assert summary is not None and summary.covers > 0
        msgs = same_either_way(svc, t)
        assert [m.text for m in msgs][::2] == [
            f"message {i} in a thread longer than its window" for i in range(15)
        ]
    finally:
        svc.close()


def test_a_replaced_message_and_a_stopped_reply_read_alike(service: ChatService) -> None:
    t = service.create_thread().id
    chat(service, t, "hello")
    reply_id = service.load_messages(t)[-1].id
    cfg = {"configurable": {"thread_id": t}}
    service.graph.update_state(
        cfg,  # type: ignore[arg-type]
        {
            "messages": [
                AIMessage(content="said again", id=reply_id),
                SystemMessage(content="not shown", id=str(uuid.uuid4())),
                AIMessage(
                    content="cut short",
                    id=str(uuid.uuid4()),
                    additional_kwargs={"status": "stopped"},
                ),
            ]
        },
        as_node="remember",
    )
    msgs = same_either_way(service, t)
    assert [(m.text, m.status) for m in msgs] == [
        ("hello", ""),
        ("said again", ""),
        ("cut short", "stopped"),
    ]


def test_what_the_direct_read_does_not_know_goes_through_the_graph(
    service: ChatService,
) -> None:
    t = service.create_thread().id
    chat(service, t, "one")
    chat(service, t, "two")
    first = service.load_messages(t)[0]
    cfg = {"configurable": {"thread_id": t}}
    removal = {"messages": [RemoveMessage(id=first.id)]}
    service.graph.update_state(cfg, removal, as_node="remember")  # type: ignore[arg-type]
    assert direct(service, t) is None
    shown = service.load_messages(t)
    assert shown == through_graph(service, t)
    assert len(shown) == 3 and "one" not in [m.text for m in shown]

    blocks = service.create_thread().id
    chat(service, blocks, "hi")
    service.graph.update_state(
        {"configurable": {"thread_id": blocks}},  # type: ignore[arg-type]
        {"messages": [AIMessage(content=[{"type": "text", "text": "in blocks"}], id="b1")]},
        as_node="remember",
    )
    assert direct(service, blocks) is None
    assert service.load_messages(blocks)[-1].text == "in blocks"


def test_a_damaged_head_is_still_reported_as_damage(service: ChatService) -> None:
    t = service.create_thread().id
    chat(service, t, "hello")
    assert service.db_path is not None
    conn = sqlite3.connect(service.db_path)
    with conn:
        conn.execute(
            "UPDATE checkpoints SET type = 'msgpack', checkpoint = x'c1c1c1' WHERE thread_id = ?"
            " AND checkpoint_id = (SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ?)",
            (t, t),
        )
    conn.close()
    service._message_cache.invalidate(t)
    assert direct(service, t) is None
    with pytest.raises(DamagedCheckpoint):
        service.load_messages(t)


def test_opening_the_app_on_a_conversation_does_not_load_the_agent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = ChatService(make_settings(data))
    t = svc.create_thread().id
    chat(svc, t, "My name is Alice")
    svc.close()
    code = textwrap.dedent(
        f"""
        import sys
        from tests.conftest import make_settings
        from chat_app.service import ChatService
        import chat_app.ui.app

        svc = ChatService(make_settings(__import__("pathlib").Path({str(data)!r})))
        threads = svc.list_threads()
        msgs = svc.load_messages({t!r})
        hist = svc.history({t!r})
        mark = svc.summary_mark({t!r})  # as the app reads a thread to show it
        assert mark is None
        agent_libs = {{"langchain_core", "langgraph", "langsmith"}}
        agent = sorted({{m.split(".")[0] for m in sys.modules}} & agent_libs)
        print(len(threads), [m.text for m in msgs][0], len(hist.checkpoints) > 0, agent)
        svc.load_agent()
        print(svc.agent_ready, [f.value for f in svc.profile()])
        svc.close()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    ).stdout.splitlines()
    assert out == ["1 My name is Alice True []", "True ['Alice']"]
