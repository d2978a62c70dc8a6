"""A reply killed mid-way on a branch the person switched to is found and
resumed there (the branch choice never hides a crashed turn)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.service import ChatService
from tests.test_crash_recovery import crash_mid_reply, new_thread, open_service, run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_crash_after_switching_branch_is_recovered_on_that_branch(
    data_dir: Path, service_factory: Callable[..., ChatService]
) -> None:
    thread = new_thread(data_dir, "hello")
    svc = open_service(service_factory, data_dir)
    old_end = svc.history(thread).head_id
    assert old_end is not None
    svc.rewind(thread, svc.branch_timeline(thread)[-1].id)
    svc.close()
    run(data_dir, "send", "--thread", thread, "another start")
    svc = open_service(service_factory, data_dir)
    svc.show_branch(thread, old_end)
    svc.close()

    crash_mid_reply(data_dir, thread, "tell me about crashes")
    svc = open_service(service_factory, data_dir)
    pending = svc.pending_runs()
    assert [p.thread_id for p in pending] == [thread]
    assert [m.text for m in svc.load_messages(thread) if m.role == "user"] == [
        "hello",
        "tell me about crashes",
    ]
    svc.close()
    run(data_dir, "resume", thread)
    svc = open_service(service_factory, data_dir)
    assert svc.pending_runs() == []
    msgs = svc.load_messages(thread)
    assert [m.role for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[2].text == "tell me about crashes"
