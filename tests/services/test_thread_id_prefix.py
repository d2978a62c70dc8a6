"""A short thread id (as the Profile tab shows) names the thread, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chat_app.service import AmbiguousThreadId, ChatService, ThreadNotFound
from tests.services.conftest import backend_target

pytestmark = pytest.mark.services

Make = Callable[..., ChatService]


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def make(request: pytest.FixtureRequest, make_service: Make) -> Make:
    backend = request.param
    dsn = backend_target(request, backend)

    def _make(**kw: Any) -> ChatService:
        return make_service(backend, dsn=dsn, **kw)

    return _make


def test_unique_prefix_names_the_thread_and_others_do_not(make: Make) -> None:
    alice = make(user="alice")
    ids = [alice.index.create("alice", thread_id=t).id for t in ("abcd1111-x", "abcd2222-y")]
    mine = alice.create_thread().id
    assert alice.resolve_thread_id(mine[:8]) == mine
    assert alice.resolve_thread_id(mine.upper()[:8]) == mine
    assert alice.resolve_thread_id("abcd1") == ids[0]
    with pytest.raises(AmbiguousThreadId, match="abcd1111-x, abcd2222-y"):
        alice.resolve_thread_id("abcd")
    with pytest.raises(ThreadNotFound):
        alice.resolve_thread_id("abc")  # shorter than 4 characters
    with pytest.raises(ThreadNotFound):
        alice.resolve_thread_id("a%c_")  # not an id's characters, not a pattern
    # Another user's thread is not found by its prefix either.
    bob = make(user="bob")
    with pytest.raises(ThreadNotFound):
        bob.resolve_thread_id(mine[:8])
