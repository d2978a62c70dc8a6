"""The service's single retry layer, end to end against the loopback server (T14-T16).

A real ChatService on a real SQLite file drives the ``openai`` model over
HTTP. Attempt counts come from the server's request log, so a second retry
layer hiding anywhere (the OpenAI client's own retries, a tenacity wrapper)
shows up as extra requests. A turn whose message may say something about
the person also makes a non-streaming request for profile extraction, so only
streaming requests count as reply attempts.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_app.service import ChatService
from chat_app.service.events import Event, ReplyFailed, ReplyFinished, Retrying, Token
from tests.conftest import make_settings
from tests.fake_openai import FakeOpenAI, RecordedRequest

KEY = "sk-test-SENTINEL-" + "r8Wm" * 8
TEXT = "one two three four five six"
FULL_REPLY = f"Echo: {TEXT}"


ServiceFactory = Callable[..., ChatService]


@pytest.fixture
def make_service(fake: FakeOpenAI, tmp_path: Path) -> Iterator[ServiceFactory]:
    made: list[ChatService] = []

    def make(sleep: Callable[[float], None] = time.sleep, **model: Any) -> ChatService:
        options: dict[str, Any] = {
            "name": "openai:fake-model",
            "base_url": fake.base_url,
            "max_attempts": 3,
            "connect_timeout_s": 1.0,
            "read_timeout_s": 0.5,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.05,
        }
        options.update(model)
        settings = dataclasses.replace(make_settings(tmp_path / "data", model=options), api_key=KEY)
        service = ChatService(settings, sleep=sleep)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


class Sleeps:
    """Records the service's back-off delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def reply_attempts(fake: FakeOpenAI) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.stream]


def send(service: ChatService, text: str = TEXT) -> tuple[str, list[Event]]:
    thread = service.create_thread("t")
    return thread.id, list(service.send(thread.id, text))


def only(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


# -- T14: the retry matrix ---------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_then_succeeds(
    fake: FakeOpenAI, make_service: ServiceFactory
) -> None:
    fake.status(429, headers={"Retry-After": "1"})
    service = make_service()
    _, events = send(service)

    attempts = reply_attempts(fake)
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 1.0
    [retrying] = only(events, Retrying)
    assert (retrying.attempt, retrying.max_attempts, retrying.delay_s) == (2, 3, 1.0)
    assert "429" in retrying.reason
    [finished] = only(events, ReplyFinished)
    assert finished.message.text == FULL_REPLY
    assert not only(events, ReplyFailed)


@pytest.mark.parametrize("max_attempts", [3, 4])
@pytest.mark.parametrize("code", [500, 503])
def test_5xx_forever_makes_exactly_max_attempts(
    fake: FakeOpenAI, make_service: ServiceFactory, code: int, max_attempts: int
) -> None:
    fake.status(code, times=None)
    sleeps = Sleeps()
    service = make_service(sleep=sleeps, max_attempts=max_attempts)
    thread_id, events = send(service)

    assert len(fake.requests) == max_attempts, "a second retry layer multiplies attempts"
    assert len(sleeps.delays) == max_attempts - 1
    assert [e.attempt for e in only(events, Retrying)] == list(range(2, max_attempts + 1))
    [failed] = only(events, ReplyFailed)
    assert f"({code})" in failed.reason
    assert f"gave up after {max_attempts} attempts" in failed.reason
    assert not only(events, ReplyFinished)
    assert [m.role for m in service.load_messages(thread_id)] == ["user"]


FINAL = [
    pytest.param(400, {"error": {"message": "temperature must be <= 2"}}, "bad request (400)"),
    pytest.param(
        400,
        {"error": {"message": "maximum context length is 8192 tokens", "code": "x"}},
        "the conversation is too long",
        id="400-context",
    ),
    pytest.param(
        401,
        {"error": {"message": f"Incorrect API key provided: {KEY}"}},
        "the API key was rejected (401)",
    ),
    pytest.param(403, None, "permission denied (403)"),
    pytest.param(404, None, "unknown model or wrong base_url (404)"),
    pytest.param(422, {"detail": "bad"}, "invalid request (422)"),
]


@pytest.mark.parametrize(("code", "body", "message"), FINAL)
def test_final_errors_make_exactly_one_attempt(
    fake: FakeOpenAI, make_service: ServiceFactory, code: int, body: object, message: str
) -> None:
    fake.status(code, body, times=None)
    sleeps = Sleeps()
    service = make_service(sleep=sleeps)
    thread_id, events = send(service)

    assert len(fake.requests) == 1
    assert sleeps.delays == []
    assert not only(events, Retrying)
    [failed] = only(events, ReplyFailed)
    assert failed.reason.startswith(message)
    assert KEY not in failed.reason
    assert [m.role for m in service.load_messages(thread_id)] == ["user"]


def test_retry_after_over_the_cap_gives_up_at_once_and_says_when(
    fake: FakeOpenAI, make_service: ServiceFactory
) -> None:
    fake.status(429, headers={"Retry-After": "600"}, times=None)
    sleeps = Sleeps()
    service = make_service(sleep=sleeps)
    _, events = send(service)

    assert len(fake.requests) == 1
    assert sleeps.delays == []
    [failed] = only(events, ReplyFailed)
    assert "600 s" in failed.reason


# -- T15/T16: timeouts and truncated streams ----------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda f: f.drop_after(2), id="dropped-mid-body"),
        pytest.param(lambda f: f.eof_without_finish(2), id="clean-eof-without-finish"),
        pytest.param(lambda f: f.stall_after(2, 5), id="stalled-mid-body"),
        pytest.param(lambda f: f.hang(5), id="no-answer"),
    ],
)
def test_interrupted_reply_is_retried_once_and_partial_not_stored(
    fake: FakeOpenAI, make_service: ServiceFactory, fault: Callable[[FakeOpenAI], object]
) -> None:
    fault(fake)
    sleeps = Sleeps()
    service = make_service(sleep=sleeps)
    thread_id, events = send(service)

    assert len(reply_attempts(fake)) == 2, "exactly one new request after the interruption"
    [retrying] = only(events, Retrying)
    assert retrying.attempt == 2
    [finished] = only(events, ReplyFinished)
    assert finished.message.text == FULL_REPLY
    messages = service.load_messages(thread_id)
    assert [(m.role, m.text) for m in messages] == [("user", TEXT), ("assistant", FULL_REPLY)]
    assert all(m.status == "" for m in messages)


def test_truncated_stream_is_reported_when_retries_run_out(
    fake: FakeOpenAI, make_service: ServiceFactory
) -> None:
    fake.eof_without_finish(2, times=None)
    service = make_service(sleep=Sleeps(), max_attempts=2)
    thread_id, events = send(service)

    assert len(reply_attempts(fake)) == 2
    assert [r.reason for r in only(events, Retrying)] == ["the reply stream was interrupted"]
    [failed] = only(events, ReplyFailed)
    assert failed.partial == "Echo: one "
    assert failed.can_retry
    assert not only(events, ReplyFinished)
    assert [m.role for m in service.load_messages(thread_id)] == ["user"]


def test_complete_stream_is_never_flagged(fake: FakeOpenAI, make_service: ServiceFactory) -> None:
    service = make_service(sleep=Sleeps())
    thread_id, events = send(service)

    assert len(reply_attempts(fake)) == 1
    assert not only(events, Retrying)
    assert not only(events, ReplyFailed)
    assert "".join(t.text for t in only(events, Token)) == FULL_REPLY
    assert [m.text for m in service.load_messages(thread_id)] == [TEXT, FULL_REPLY]


def test_cancel_while_the_server_hangs_takes_effect_quickly(
    fake: FakeOpenAI, make_service: ServiceFactory
) -> None:
    fake.hang(10)
    service = make_service(read_timeout_s=1.0)
    thread = service.create_thread("t")
    cancelled_at: list[float] = []

    def cancel_when_asked() -> None:
        fake.wait_for_requests(1)
        cancelled_at.append(time.monotonic())
        service.cancel(thread.id)

    canceller = threading.Thread(target=cancel_when_asked)
    canceller.start()
    events = list(service.send(thread.id, TEXT))
    ended = time.monotonic()
    canceller.join()

    assert not only(events, ReplyFailed)
    assert ended - cancelled_at[0] < 0.2
    # One reply request, abandoned at once (no retry of a stopped reply).
    assert len(reply_attempts(fake)) == 1


# -- T26 (part): the key stays in the client ------------------------------------------------


def test_key_never_reaches_events_or_disk(
    fake: FakeOpenAI, make_service: ServiceFactory, tmp_path: Path
) -> None:
    leaky = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    fake.status(401, leaky).status(500, leaky).drop_after(1).ok()
    service = make_service(sleep=Sleeps())
    events: list[Event] = []
    for _ in range(2):
        events += send(service)[1]

    assert all(r.authorization == f"Bearer {KEY}" for r in fake.requests)
    assert KEY not in repr(events)
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
