"""A turn's request fits the model's context, however long the thread.

Against the loopback server, which refuses (400, context length) any request
over the token limit it is given, as real servers do: a 10,000-message
thread is answered with the running summary and the newest turns; the
summary is written once, not on every turn; a rewind sees its own branch's
summary. The offline model (2,000 tokens) shows the same with no network.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from chat_app.config import ConfigError
from chat_app.service import ChatService
from chat_app.service.events import ReplyFailed, ReplyFinished
from graphs.budget import context_budget, known_context_tokens
from graphs.history import SUMMARY_HEADER, count_tokens
from graphs.state import STATE_VERSION
from tests.conftest import chat, make_settings
from tests.fake_openai import FakeOpenAI, RecordedRequest

KEY = "sk-test-" + "b7Qx" * 8
CONTEXT = 2_000
REPLY = 500


@pytest.fixture
def openai_service(fake: FakeOpenAI, tmp_path: Path) -> Iterator[Callable[..., ChatService]]:
    made: list[ChatService] = []

    def make(**model: Any) -> ChatService:
        options: dict[str, Any] = {
            "name": "openai:fake-model",
            "base_url": fake.base_url,
            "max_attempts": 3,
            "read_timeout_s": 2.0,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.02,
            "context_tokens": CONTEXT,
            "reply_tokens": REPLY,
        }
        options.update(model)
        settings = make_settings(tmp_path / "data", model=options)
        service = ChatService(dataclasses.replace(settings, api_key=KEY))
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


def turns(start: int, stop: int) -> list[BaseMessage]:
    """Turns ``start``..``stop - 1`` as stored messages (ids, as the service gives)."""
    out: list[BaseMessage] = []
    for i in range(start, stop):
        out.append(HumanMessage(f"question {i}: how does part {i} of the plan work?", id=f"h{i}"))
        out.append(AIMessage(f"Answer {i}. Part {i} works like this, in short.", id=f"a{i}"))
    return out


def write_messages(service: ChatService, thread_id: str, messages: list[BaseMessage]) -> None:
    """Add messages to a thread in one checkpoint (no model turns)."""
    config = {"configurable": {"thread_id": thread_id}}
    service.graph.update_state(
        config,
        {"messages": messages, "state_version": STATE_VERSION, "settings": {}},
        as_node="remember",
    )
    count = len(service.graph.get_state(config).values["messages"])
    service.index.set_count(thread_id, count)


def wire_messages(request: RecordedRequest) -> list[dict[str, Any]]:
    return list(request.body["messages"])


def wire_tokens(request: RecordedRequest) -> int:
    """The request's size by the client's own counter."""
    from langchain_core.messages import convert_to_messages

    return count_tokens(convert_to_messages(wire_messages(request)))


def streamed(fake: FakeOpenAI) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.stream]


def send_ok(service: ChatService, thread_id: str, text: str) -> str:
    events = list(service.send(thread_id, text))
    failed = [e for e in events if isinstance(e, ReplyFailed)]
    assert not failed, failed[0].reason
    return next(e for e in events if isinstance(e, ReplyFinished)).message.text


def test_budgets_known_names_unknown_servers_and_the_offline_model() -> None:
    assert known_context_tokens("openai:gpt-4o-mini") == 128_000
    assert known_context_tokens("openai:gpt-4.1-mini") == 1_047_576
    assert known_context_tokens("openai:gpt-3.5-turbo") == 16_385
    assert known_context_tokens("openai:llama3.1:8b") == 131_072
    assert known_context_tokens("openai:llama3") == 8_192
    assert known_context_tokens("openai:qwen2.5:7b") == 32_768
    assert known_context_tokens("openai:mistralai/Mistral-7B-Instruct") == 32_768
    assert known_context_tokens("openai:meta-llama/Meta-Llama-3.1-8B-Instruct") == 131_072
    assert known_context_tokens("openai:gpt-4-turbo") == 128_000
    assert known_context_tokens("openai:o3-mini") == 200_000
    assert known_context_tokens("openai:openchat-3.5") == 8_192
    assert known_context_tokens("openai:my-own-server-model") == 8_192
    assert context_budget("openai:my-own-server-model").prompt == 8_192 - 2_048
    # A million-token window is not filled on every turn by default.
    assert context_budget("openai:gpt-4.1").context == 128_000
    assert context_budget("openai:gpt-4.1", 500_000, 8_000).prompt == 492_000
    assert context_budget("offline") == context_budget("offline", 2_000, 500)
    assert context_budget("offline").summary == 300
    # Every checkpoint holds the summary: it stays small however large the window.
    assert context_budget("openai:gpt-4o").summary == 1_000


def test_a_reply_reserve_as_large_as_the_context_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reply_tokens"):
        make_settings(tmp_path, model={"context_tokens": 1000, "reply_tokens": 1000})
    with pytest.raises(ConfigError, match="context_tokens: at least 512"):
        make_settings(tmp_path, model={"context_tokens": 100})
    with pytest.raises(ConfigError, match="reply_tokens: must be 0 or more"):
        make_settings(tmp_path, model={"reply_tokens": -1})


def test_a_10000_message_thread_is_answered_within_the_budget(
    fake: FakeOpenAI, openai_service: Callable[..., ChatService]
) -> None:
    fake.context_limit = CONTEXT
    service = openai_service()
    thread = service.create_thread("long").id
    write_messages(service, thread, turns(0, 5_000))

    fake.ok("SUMMARY: the plan was discussed part by part, from part 0 on.")
    reply = send_ok(service, thread, "and what about the last part?")
    # One request for the summary, one for the reply; no extraction (the
    # message says nothing about the person).
    assert fake.count == 2
    assert not fake.requests[0].stream and fake.requests[1].stream
    assert reply == "Echo: and what about the last part?"

    # The summary request is bounded too: the messages that do not fit in it
    # go in as one line each, the start of the conversation kept.
    asked = wire_messages(fake.requests[0])[-1]["content"]
    assert "- You: question 0: how does part 0 of the plan work?" in asked
    request = fake.requests[1]
    assert wire_tokens(request) <= CONTEXT - REPLY
    wire = wire_messages(request)
    assert wire[0]["role"] == "system"
    assert SUMMARY_HEADER in wire[0]["content"]
    assert "SUMMARY: the plan was discussed" in wire[0]["content"]
    # The newest turns, whole and in order, starting with a question.
    assert wire[1]["role"] == "user"
    assert wire[-1]["content"] == "and what about the last part?"
    assert wire[-2]["content"] == "Answer 4999. Part 4999 works like this, in short."
    assert len(wire) > 10

    summary = service.history_summary(thread)
    assert summary is not None and summary.by == "model"
    assert summary.covers == 10_000 - (len(wire) - 2)
    # ...and the newest of the summarised messages in full.
    newest = (summary.covers - 1) // 2
    assert asked.endswith(f"Assistant: Answer {newest}. Part {newest} works like this, in short.")

    # The next turns fit after the summary: it is not written again.
    for i in range(3):
        send_ok(service, thread, f"next step {i}")
    assert fake.count == 5
    assert all(r.stream for r in fake.requests[2:])
    assert all(wire_tokens(r) <= CONTEXT - REPLY for r in fake.requests)
    for request in streamed(fake):
        wire = wire_messages(request)
        assert "SUMMARY: the plan was discussed" in wire[0]["content"]
        assert wire[1]["role"] == "user"
    assert wire_messages(streamed(fake)[-1])[-1]["content"] == "next step 2"
    assert service.history_summary(thread) == summary


def test_without_the_budget_the_server_refuses_a_long_thread(
    fake: FakeOpenAI, openai_service: Callable[..., ChatService]
) -> None:
    """The loopback server's limit is real: a request holding the whole thread fails."""
    fake.context_limit = CONTEXT
    service = openai_service(context_tokens=1_000_000, reply_tokens=1_000)
    thread = service.create_thread("long").id
    write_messages(service, thread, turns(0, 500))
    events = list(service.send(thread, "and the last part?"))
    failed = [e for e in events if isinstance(e, ReplyFailed)]
    assert failed and "too long for this model's context window" in failed[0].reason
    assert fake.count == 1


def test_a_rewind_sees_the_summary_of_its_own_branch(
    fake: FakeOpenAI, openai_service: Callable[..., ChatService]
) -> None:
    fake.context_limit = CONTEXT
    service = openai_service()
    thread = service.create_thread("branches").id
    write_messages(service, thread, turns(0, 50))
    fake.ok("EARLY SUMMARY of parts 0 to 40.")
    send_ok(service, thread, "what about part 50?")
    assert fake.count == 2
    early = service.history_summary(thread)
    assert early is not None and early.text == "EARLY SUMMARY of parts 0 to 40."
    turn_50 = next(
        c.id for c in service.branch_timeline(thread) if c.summary.startswith("assistant:")
    )

    write_messages(service, thread, turns(51, 5_000))
    fake.ok("LATE SUMMARY of parts 0 to 4990.")
    send_ok(service, thread, "what about the last part?")
    assert fake.count == 4
    late = service.history_summary(thread)
    assert late is not None and late.text.startswith("LATE SUMMARY")

    service.rewind(thread, turn_50)
    assert service.history_summary(thread) == early
    send_ok(service, thread, "and part 51?")
    # The branch's own summary still covers it: one request, the reply.
    assert fake.count == 5
    system = wire_messages(fake.requests[-1])[0]["content"]
    assert "EARLY SUMMARY" in system and "LATE SUMMARY" not in system
    wire = wire_messages(fake.requests[-1])
    assert [m["content"] for m in wire[-3:]] == [
        "what about part 50?",
        "Echo: what about part 50?",
        "and part 51?",
    ]


def test_a_failed_summary_request_is_retried_and_the_reply_streams_once(
    fake: FakeOpenAI, openai_service: Callable[..., ChatService]
) -> None:
    service = openai_service()
    thread = service.create_thread("long").id
    write_messages(service, thread, turns(0, 200))
    fake.status(503).ok("SUMMARY after a retry.")
    send_ok(service, thread, "what next?")
    assert [r.stream for r in fake.requests] == [False, False, True]
    summary = service.history_summary(thread)
    assert summary is not None and summary.text == "SUMMARY after a retry."


def test_a_summary_that_keeps_failing_is_stood_in_for_by_rules(
    fake: FakeOpenAI, openai_service: Callable[..., ChatService]
) -> None:
    service = openai_service()
    thread = service.create_thread("long").id
    write_messages(service, thread, turns(0, 200))
    fake.status(503, times=3)
    reply = send_ok(service, thread, "what next?")
    assert reply == "Echo: what next?"
    # Three summary attempts (the last one's failure stands in by rules), one reply.
    assert [r.stream for r in fake.requests] == [False, False, False, True]
    summary = service.history_summary(thread)
    assert summary is not None and summary.by == "rules"
    assert summary.text.startswith("- You: question 0: how does part 0 of the plan work?")


def test_the_offline_model_summarises_a_long_thread_and_still_recalls_its_start(
    service: ChatService,
) -> None:
    thread = service.create_thread("offline").id
    chat(service, thread, "Hello, my name is Alice and I live in Paris.")
    covers: list[int] = []
    for i in range(40):
        chat(service, thread, f"Note {i}: the meeting about item {i} moved to a later date.")
        summary = service.history_summary(thread)
        covers.append(summary.covers if summary else 0)
    # Written when the window overflowed, then left alone for many turns.
    assert covers[0] == 0 and covers[-1] > 40
    rewrites = sum(1 for a, b in itertools.pairwise(covers) if a != b)
    assert 1 <= rewrites <= 8
    summary = service.history_summary(thread)
    assert summary is not None and summary.by == "rules"
    assert "Hello, my name is Alice and I live in Paris." in summary.text
    first = chat(service, thread, "what was my first message?")
    assert "Hello, my name is Alice and I live in Paris." in first
    count = chat(service, thread, "how many messages?")
    assert "85 messages" in count
    recap = chat(service, thread, "summarize our conversation")
    assert "you've sent 43 messages before this one" in recap
    assert "Hello, my name is Alice and I live in Paris." in recap


def test_a_message_larger_than_the_window_is_sent_cut_and_stored_whole(
    fake: FakeOpenAI, openai_service: Callable[..., ChatService]
) -> None:
    fake.context_limit = CONTEXT
    service = openai_service()
    thread = service.create_thread("paste").id
    send_ok(service, thread, "hello there")
    pasted = "Lorem ipsum dolor sit amet. " * 4_000
    fake.ok("SUMMARY of the greeting.")
    send_ok(service, thread, pasted)
    request = streamed(fake)[-1]
    assert wire_tokens(request) <= CONTEXT - REPLY
    sent = wire_messages(request)[-1]["content"]
    assert sent.startswith("Lorem ipsum dolor sit amet.") and sent.endswith("[…cut to fit…]")
    assert service.load_messages(thread)[-2].text == pasted
