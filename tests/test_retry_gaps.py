"""Gaps in the retry matrix closed (issue 4, item 2): 502, connection failures
and the Retry action after the attempts ran out, counted at the wire."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from chat_app.service.events import ReplyFailed, ReplyFinished, Retrying
from tests.fake_openai import FakeOpenAI
from tests.test_retry_service import (  # noqa: F401 (fixtures)
    FULL_REPLY,
    TEXT,
    ServiceFactory,
    Sleeps,
    make_service,
    only,
    reply_attempts,
    send,
)


def test_502_forever_makes_exactly_max_attempts(
    fake: FakeOpenAI,
    make_service: ServiceFactory,  # noqa: F811
) -> None:
    fake.status(502, times=None)
    service = make_service(sleep=Sleeps(), max_attempts=4)
    thread_id, events = send(service)
    assert len(fake.requests) == 4
    [failed] = only(events, ReplyFailed)
    assert "(502)" in failed.reason and "gave up after 4 attempts" in failed.reason
    assert [m.role for m in service.load_messages(thread_id)] == ["user"]


@pytest.fixture
def slammer() -> Iterator[tuple[str, list[int]]]:
    """A server that accepts each connection and closes it at once."""
    srv = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1", accepted
    stop.set()
    t.join(2)
    srv.close()


def test_connection_failures_are_retried_by_one_layer_only(
    make_service: ServiceFactory,  # noqa: F811
    slammer: tuple[str, list[int]],
) -> None:
    url, accepted = slammer
    service = make_service(sleep=Sleeps(), max_attempts=3, base_url=url)
    thread_id, events = send(service)
    assert len(accepted) == 3, "the client's own retries must be off"
    assert [e.attempt for e in only(events, Retrying)] == [2, 3]
    [failed] = only(events, ReplyFailed)
    assert failed.can_retry
    assert [m.role for m in service.load_messages(thread_id)] == ["user"]


def test_retry_action_after_giving_up_makes_one_request_and_one_reply(
    fake: FakeOpenAI,
    make_service: ServiceFactory,  # noqa: F811
) -> None:
    fake.status(503, times=3)
    service = make_service(sleep=Sleeps(), max_attempts=3)
    thread_id, events = send(service)
    [failed] = only(events, ReplyFailed)
    assert failed.can_retry and len(reply_attempts(fake)) == 3
    assert [p.thread_id for p in service.pending_runs()] == [thread_id]
    # The person presses Retry: the service resumes the saved turn.
    retry = list(service.resume(thread_id))
    assert len(reply_attempts(fake)) == 4
    [finished] = only(retry, ReplyFinished)
    assert finished.message.text == FULL_REPLY
    msgs = service.load_messages(thread_id)
    assert [(m.role, m.text) for m in msgs] == [("user", TEXT), ("assistant", FULL_REPLY)]
    assert service.pending_runs() == []
