"""Service behaviour a person notices: titles, search, branches, profile."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chat_app.service import ChatService, ServiceError
from tests.conftest import chat


@pytest.fixture(params=["sqlite", "memory"])
def service(
    request: pytest.FixtureRequest, service_factory: Callable[..., ChatService]
) -> ChatService:
    """Each test on the SQLite file and on the memory backend."""
    return service_factory(storage={"backend": request.param})


def test_back_to_latest_undoes_a_rewind_nothing_was_sent_after(service: ChatService) -> None:
    t = service.create_thread().id
    for text in ("first", "second", "third"):
        chat(service, t, text)
    full = [m.text for m in service.load_messages(t)]
    before_second = next(c.id for c in service.branch_timeline(t) if c.summary == "you: second")
    assert [m.text for m in service.rewind(t, before_second)] == full[:2]
    # Back to latest returns to the conversation the person came from.
    assert [m.text for m in service.back_to_latest(t)] == full
    # Again: still the latest conversation.
    assert [m.text for m in service.back_to_latest(t)] == full
    # Rewind, come back, rewind elsewhere, come back: always the latest.
    before_third = next(c.id for c in service.branch_timeline(t) if c.summary == "you: third")
    service.rewind(t, before_third)
    assert [m.text for m in service.back_to_latest(t)] == full
    chat(service, t, "fourth")
    n = len(service.history(t).checkpoints)
    assert [m.text for m in service.back_to_latest(t)][-2] == "fourth"
    assert len(service.history(t).checkpoints) == n


def test_titles_search_and_rename(service: ChatService) -> None:
    a = service.create_thread().id
    chat(service, a, "Plans for a trip to Lisbon in May")
    b = service.create_thread().id
    chat(service, b, "A question about 100% pure sqlite")
    assert service.get_thread(a).title == "Plans for a trip to Lisbon in May"
    assert [t.id for t in service.list_threads(query="lisbon")] == [a]
    # The reply text is searchable too, and % is a literal.
    assert [t.id for t in service.list_threads(query="100%")] == [b]
    assert service.list_threads(query="50%") == []
    service.rename_thread(a, "Lisbon")
    chat(service, a, "more")
    assert service.get_thread(a).title == "Lisbon"
    assert [t.id for t in service.list_threads()] == [a, b]


def test_regenerate_and_edit_fork_without_losing_anything(service: ChatService) -> None:
    t = service.create_thread().id
    chat(service, t, "My name is Alice")
    chat(service, t, "What's my name?")
    for _ in service.regenerate(t):
        pass
    msgs = service.load_messages(t)
    assert [m.text for m in msgs][2] == "What's my name?"
    assert len(msgs) == 4
    first_id = msgs[0].id
    for _ in service.edit_and_resend(t, first_id, "My name is Bob"):
        pass
    assert service.load_messages(t)[0].text == "My name is Bob"
    assert len(service.load_messages(t)) == 2
    # Three branches: the original, the regenerated one, the edited one.
    hist = service.history(t)
    parents = {c.parent_id for c in hist.checkpoints}
    leaves = [c for c in hist.checkpoints if c.id not in parents]
    assert len(leaves) == 3


def test_delete_removes_checkpoints_and_index(service: ChatService) -> None:
    t = service.create_thread().id
    chat(service, t, "secret plans")
    service.delete_thread(t)
    assert service.list_threads() == []
    assert service.index.checkpoints(t) == []
    try:
        service.load_messages(t)
    except ServiceError as exc:
        assert "no thread" in str(exc)
    else:
        raise AssertionError("a deleted thread must not load")


def test_backoff_is_exponential_with_jitter_capped_and_honours_retry_after(
    service_factory,
) -> None:
    from graphs.errors import TransientModelError

    svc = service_factory(model={"backoff_initial_s": 1.0, "backoff_max_s": 5.0})
    err = TransientModelError("503")
    for attempt, low, high in [(1, 1.0, 2.0), (2, 2.0, 3.0), (3, 4.0, 5.0), (6, 5.0, 5.0)]:
        waits = [svc._backoff(attempt, err) for _ in range(50)]
        assert all(low <= w <= high for w in waits), (attempt, min(waits), max(waits))
    assert len({svc._backoff(2, err) for _ in range(20)}) > 1  # jittered
    assert svc._backoff(1, TransientModelError("429", retry_after=7.0)) == 7.0
