"""Schema change (issue 4, item 4): a thread written by the v1 code path opens,
is migrated to v2, and continues."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chat_app.service import ChatService
from graphs.state import STATE_VERSION
from tests.conftest import chat
from tests.legacy_v1 import write_v1_thread

USER = "legacy"


def test_v1_thread_opens_migrates_and_continues(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    said = [f"v1 message {i}" for i in range(5)]
    thread = write_v1_thread(data, USER, said)

    svc = service_factory(data, user={"id": USER})
    assert STATE_VERSION == 2
    assert [t.id for t in svc.list_threads()] == [thread]
    msgs = svc.load_messages(thread)
    assert [m.text for m in msgs][::2] == said
    assert all(m.role == "assistant" and m.text for m in msgs[1::2])
    cfg = {"configurable": {"thread_id": thread}}
    before = svc.graph.get_state(cfg).values  # type: ignore[arg-type]
    assert before["state_version"] == 1 and "settings" not in before
    # Channels added later without a schema version read as absent.
    assert "history_summary" not in before and "profile_pending" not in before
    assert svc.history_summary(thread) is None
    assert svc.profile_not_updated(thread) == ""

    reply = chat(svc, thread, "and now from v2")
    assert reply
    after = svc.graph.get_state(cfg).values  # type: ignore[arg-type]
    assert after["state_version"] == STATE_VERSION
    assert after["settings"] == {}
    assert [m.text for m in svc.load_messages(thread)][::2] == [*said, "and now from v2"]
    # The v1 checkpoints stay readable: rewinding into them works.
    old = [c for c in svc.history(thread).checkpoints if c.source == "input"][2]
    assert [m.text for m in svc.load_messages(thread, old.id)][::2] == said[:2]
    svc.rewind(thread, old.id)
    chat(svc, thread, "a new branch from v1 history")
    assert [m.text for m in svc.load_messages(thread)][::2] == [
        *said[:2],
        "a new branch from v1 history",
    ]
    assert svc.pending_runs() == []


def test_a_long_v1_thread_gets_a_running_summary_at_its_first_v2_turn(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    said = [f"v1 message {i} about the long plan we made back then" for i in range(30)]
    thread = write_v1_thread(data, USER, said)
    svc = service_factory(
        data, user={"id": USER}, model={"context_tokens": 600, "reply_tokens": 150}
    )
    assert svc.history_summary(thread) is None
    chat(svc, thread, "and now from v2")
    summary = svc.history_summary(thread)
    assert summary is not None and summary.by == "rules"
    assert summary.text.splitlines()[0] == f"- You: {said[0]}"
    assert 0 < summary.covers < 62
    # The chat still shows every message: the summary is for the model only.
    assert [m.text for m in svc.load_messages(thread)][::2] == [*said, "and now from v2"]
