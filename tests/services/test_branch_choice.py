"""Looking at or switching to another branch writes no checkpoint; the choice
is a row in the app's own tables (SQLite and PostgreSQL), and the next
message continues the branch chosen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chat_app.service import ChatService
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


def texts(svc: ChatService, tid: str) -> list[str]:
    return [m.text for m in svc.load_messages(tid) if m.role == "user"]


def checkpoints(svc: ChatService, tid: str) -> int:
    return len(svc.history(tid).checkpoints)


def test_back_to_latest_after_a_rewind_writes_nothing(make: Make) -> None:
    svc = make()
    tid = svc.create_thread().id
    chat(svc, tid, "one")
    chat(svc, tid, "two")
    first = svc.branch_timeline(tid)[-1]
    svc.rewind(tid, first.id)
    assert texts(svc, tid) == []
    count = checkpoints(svc, tid)
    for _ in range(3):
        shown = svc.back_to_latest(tid)
        assert [m.text for m in shown if m.role == "user"] == ["one", "two"]
        assert checkpoints(svc, tid) == count
    assert texts(svc, tid) == ["one", "two"]
    # The next message continues the latest branch.
    chat(svc, tid, "three")
    assert texts(svc, tid) == ["one", "two", "three"]


def test_switching_branches_never_adds_a_checkpoint_and_sending_continues_it(
    make: Make,
) -> None:
    svc = make()
    tid = svc.create_thread().id
    chat(svc, tid, "one")
    chat(svc, tid, "two")
    old_end = svc.history(tid).head_id
    assert old_end is not None
    svc.rewind(tid, svc.branch_timeline(tid)[-1].id)
    chat(svc, tid, "other")
    new_end = svc.history(tid).head_id
    assert new_end is not None
    count = checkpoints(svc, tid)
    for _ in range(3):
        svc.show_branch(tid, old_end)
        assert texts(svc, tid) == ["one", "two"]
        assert svc.history(tid).head_id == old_end
        svc.show_branch(tid, new_end)
        assert texts(svc, tid) == ["other"]
    assert checkpoints(svc, tid) == count
    svc.show_branch(tid, old_end)
    # Another instance sees the same choice (it is in the index, not in memory).
    again = make()
    assert texts(again, tid) == ["one", "two"]
    chat(again, tid, "three")
    assert texts(svc, tid) == ["one", "two", "three"]
    # The message made the newest checkpoint the head again: no choice is left.
    assert svc.index.chosen_head(tid) is None
    assert svc.history(tid).head_id == max(c.id for c in svc.history(tid).checkpoints)


def test_regenerate_on_a_chosen_branch_shows_the_new_reply(make: Make) -> None:
    svc = make()
    tid = svc.create_thread().id
    chat(svc, tid, "one")
    old_end = svc.history(tid).head_id
    assert old_end is not None
    svc.rewind(tid, svc.branch_timeline(tid)[-1].id)
    chat(svc, tid, "other")
    svc.show_branch(tid, old_end)
    list(svc.regenerate(tid))
    # The regenerated reply is what the thread shows, on the "one" branch.
    assert texts(svc, tid) == ["one"]
    assert svc.history(tid).head_id == max(c.id for c in svc.history(tid).checkpoints)
