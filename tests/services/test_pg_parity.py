"""Every feature works the same on PostgreSQL, Redis and in memory as on SQLite.

Each flow runs on every backend (``backend`` is parametrized), so a
difference shows up as one failing parameter.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from chat_app.service import ChatService, ServiceError, ThreadNotFound
from chat_app.service.events import ChatMessage, ReplyFailed, ReplyFinished
from tests.conftest import chat
from tests.services.conftest import backend_target

pytestmark = pytest.mark.services

Make = Callable[..., ChatService]


@pytest.fixture(params=["sqlite", "postgres", "memory", "redis"])
def make(request: pytest.FixtureRequest, make_service: Make) -> Make:
    backend = request.param
    dsn = backend_target(request, backend)

    def _make(**kw: Any) -> ChatService:
        return make_service(backend, dsn=dsn, **kw)

    return _make


def texts(svc: ChatService, tid: str, cp: str | None = None) -> list[str]:
    return [m.text for m in svc.load_messages(tid, cp)]


def test_send_recall_profile_and_search(make: Make) -> None:
    svc = make()
    t = svc.create_thread().id
    chat(svc, t, "Hi, my name is Alice and I live in Paris")
    assert "Alice" in chat(svc, t, "What is my name?")
    facts = {f.kind: f.value for f in svc.profile()}
    assert facts["name"] == "Alice" and facts["location"] == "Paris"
    # A new thread recalls the profile, not the conversation.
    t2 = svc.create_thread("second").id
    assert "Alice" in chat(svc, t2, "What is my name?")
    assert [x.id for x in svc.list_threads()] == [t2, t]
    assert [x.id for x in svc.list_threads(query="PARIS")] == [t]
    assert [x.id for x in svc.list_threads(query="100%_")] == []
    info = svc.get_thread(t)
    assert info.message_count == 4 and info.title.startswith("Hi, my name is Alice")
    svc.edit_fact("location", "Lyon")
    assert {f.kind: f.value for f in svc.profile()}["location"] == "Lyon"
    svc.forget("location")
    assert "location" not in {f.kind for f in svc.profile()}
    # Reopening sees everything.
    svc.close()
    again = make()
    assert texts(again, t)[2] == "What is my name?"
    assert {f.kind for f in again.profile()} == {"name"}


def test_rewind_branches_and_history(make: Make) -> None:
    svc = make()
    t = svc.create_thread().id
    for i in range(6):
        chat(svc, t, f"turn {i}")
    full = texts(svc, t)
    assert len(full) == 12
    inputs = {c.summary: c.id for c in svc.branch_timeline(t) if c.kind == "user"}
    assert texts(svc, t, inputs["you: turn 3"]) == full[:6]
    svc.rewind(t, inputs["you: turn 3"])
    assert texts(svc, t) == full[:6]
    assert svc.get_thread(t).message_count == 6
    chat(svc, t, "another path")
    assert texts(svc, t)[:7] == [*full[:6], "another path"]
    hist = svc.history(t)
    assert hist.head_id == hist.checkpoints[-1].id
    old_head = max(c.id for c in hist.checkpoints if c.id not in hist.branch_ids)
    assert texts(svc, t, old_head) == full
    kinds = [c.kind for c in svc.branch_timeline(t)]
    assert kinds[:3] == ["assistant", "user", "rewind"]
    # Edit-and-resend forks at an earlier message.
    first_id = svc.load_messages(t)[0].id
    for _ in svc.edit_and_resend(t, first_id, "edited first"):
        pass
    assert texts(svc, t)[0] == "edited first" and len(texts(svc, t)) == 2
    doc = json.loads(svc.export_thread(t, "json"))
    assert doc["messages"][0]["text"] == "edited first"
    assert len(doc["other_branches"]) >= 2


def test_delete_removes_everything(make: Make) -> None:
    svc = make()
    t = svc.create_thread().id
    chat(svc, t, "hello there")
    svc.delete_thread(t)
    with pytest.raises(ThreadNotFound):
        svc.load_messages(t)
    assert svc.list_threads() == []
    assert svc.backend.saver.get_tuple({"configurable": {"thread_id": t}}) is None
    assert svc.index.checkpoints(t) == []


def test_resume_after_a_failed_reply(make: Make) -> None:
    svc = make(model={"max_attempts": 1, "offline_token_delay_ms": 0}, chaos={"fail_next": 1})
    t = svc.create_thread().id
    events = list(svc.send(t, "please answer"))
    failed = [e for e in events if isinstance(e, ReplyFailed)]
    assert failed and failed[0].can_retry
    assert svc.get_thread(t).interrupted
    assert [p.thread_id for p in svc.pending_runs()] == [t]
    with pytest.raises(ServiceError):
        list(svc.send(t, "something else"))
    finished = [e for e in svc.resume(t) if isinstance(e, ReplyFinished)]
    assert len(finished) == 1
    assert texts(svc, t)[0] == "please answer" and len(texts(svc, t)) == 2
    assert not svc.get_thread(t).interrupted and svc.pending_runs() == []


def test_users_are_isolated(make: Make) -> None:
    a = make(user="alice")
    b = make(user="bob")
    ta = a.create_thread("alice's secret plans").id
    chat(a, ta, "My name is Alice and I like sailing")
    assert a.profile()
    cp = a.history(ta).checkpoints[0].id
    assert b.list_threads() == []
    assert b.list_threads(query="sailing") == []
    assert b.profile() == []
    refused: list[Callable[[], object]] = [
        lambda: b.get_thread(ta),
        lambda: b.load_messages(ta),
        lambda: b.history(ta),
        lambda: b.branch_timeline(ta),
        lambda: b.export_thread(ta, "md"),
        lambda: b.export_thread(ta, "json"),
        lambda: b.rewind(ta, cp),
        lambda: list(b.resume(ta)),
        lambda: list(b.send(ta, "hijack")),
        lambda: b.rename_thread(ta, "mine now"),
        lambda: b.delete_thread(ta),
    ]
    for call in refused:
        with pytest.raises(ThreadNotFound):
            call()
    # Bob forgetting everything does not touch Alice's profile.
    b.forget_all()
    assert a.profile()
    assert len(texts(a, ta)) == 2 and a.get_thread(ta).title == "alice's secret plans"


def test_one_writer_per_thread(make: Make) -> None:
    svc = make()
    t = svc.create_thread().id
    lock1 = svc.backend.lock(t)
    lock2 = svc.backend.lock(t)
    assert lock1.try_acquire()
    assert not lock2.try_acquire()
    assert not lock2.acquire(0.2)
    lock1.release()
    assert lock2.try_acquire()
    lock2.release()


def test_concurrent_sends_on_one_thread_keep_every_turn(make: Make) -> None:
    a = make()
    b = make()
    t = a.create_thread().id
    errors: list[BaseException] = []

    def run(svc: ChatService, name: str) -> None:
        try:
            for i in range(5):
                chat(svc, t, f"{name} {i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, n)) for s, n in ((a, "a"), (b, "b"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    user_texts = [m.text for m in a.load_messages(t) if m.role == "user"]
    assert sorted(user_texts) == sorted([f"{n} {i}" for n in "ab" for i in range(5)])
    assert a.get_thread(t).message_count == 20


def test_head_messages_come_from_the_cache_and_are_never_stale(make: Make) -> None:
    svc = make()
    t = svc.create_thread().id
    chat(svc, t, "first")
    before = svc.load_messages(t)
    calls = {"n": 0}
    # Reads of the stored head: through the graph, or directly (SQLite).
    real = svc._state_values
    real_direct = svc.backend.head_messages

    def counting(*args: Any, **kw: Any) -> dict[str, Any]:
        calls["n"] += 1
        return real(*args, **kw)

    def counting_direct(thread_id: str) -> list[ChatMessage] | None:
        calls["n"] += 1
        found = real_direct(thread_id)
        if found is not None:
            return found
        calls["n"] -= 1  # the graph reads it next, and counts it
        return None

    svc._state_values = counting  # type: ignore[method-assign]
    svc.backend.head_messages = counting_direct  # type: ignore[method-assign]
    assert svc.load_messages(t) == before
    assert calls["n"] == 0
    other = make()
    chat(other, t, "second, from another instance")
    assert texts(svc, t)[-2] == "second, from another instance"
    assert calls["n"] == 1
