"""Faults of a real model server that the retry layer must absorb, end to end.

A real ChatService on a real SQLite file talks HTTP to the loopback server:
a malformed stream chunk and an empty completion are retried like any
transient fault, and nothing blank is ever stored; profile extraction runs
in the same retry layer, and when it finally fails the turn still completes,
says why the profile was not updated, and the message is read again at the
next turn. Every test asserts the number of requests the server saw.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_app.service import ChatService
from chat_app.service.events import (
    Event,
    ProfileNotUpdated,
    ProfileUpdated,
    ReplyFailed,
    ReplyFinished,
    Retrying,
)
from tests.conftest import chat, make_settings
from tests.fake_openai import FakeOpenAI

KEY = "sk-test-" + "f4Lt" * 8
BOB = "my name is Bob, I'm a nurse in Oslo"
BOB_STATEMENTS = {
    "statements": [
        {"kind": "name", "subject": "", "value": "Bob"},
        {"kind": "job", "subject": "", "value": "nurse"},
        {"kind": "location", "subject": "", "value": "Oslo"},
    ]
}


@pytest.fixture
def make_service(fake: FakeOpenAI, tmp_path: Path) -> Iterator[Callable[..., ChatService]]:
    made: list[ChatService] = []

    def make(**model: Any) -> ChatService:
        options: dict[str, Any] = {
            "name": "openai:fake-model",
            "base_url": fake.base_url,
            "max_attempts": 3,
            "read_timeout_s": 2.0,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.02,
        }
        options.update(model)
        settings = make_settings(tmp_path / "data", model=options)
        service = ChatService(dataclasses.replace(settings, api_key=KEY))
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


def only(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def kinds(fake: FakeOpenAI) -> list[str]:
    """Each request the server saw: "reply" (streamed) or "extract"/"other" (one piece)."""
    return ["reply" if r.stream else "extract" for r in fake.requests]


def test_a_malformed_chunk_is_retried_and_the_reply_completes(
    fake: FakeOpenAI, make_service: Callable[..., ChatService]
) -> None:
    service = make_service()
    thread = service.create_thread().id
    fake.malformed_after(2)
    events = list(service.send(thread, "what is the plan for today?"))
    assert not only(events, ReplyFailed)
    (retry,) = only(events, Retrying)
    assert retry.reason == "the model server sent a malformed chunk mid-reply"
    (done,) = only(events, ReplyFinished)
    assert done.message.text == "Echo: what is the plan for today?"
    assert kinds(fake) == ["reply", "reply"]
    assert [m.text for m in service.load_messages(thread)] == [
        "what is the plan for today?",
        "Echo: what is the plan for today?",
    ]


def test_an_empty_completion_is_retried(
    fake: FakeOpenAI, make_service: Callable[..., ChatService]
) -> None:
    service = make_service()
    thread = service.create_thread().id
    fake.empty()
    events = list(service.send(thread, "what is the plan for today?"))
    (retry,) = only(events, Retrying)
    assert retry.reason == "the model sent an empty reply"
    assert only(events, ReplyFinished)[0].message.text == "Echo: what is the plan for today?"
    assert kinds(fake) == ["reply", "reply"]


def test_empty_completions_end_in_one_clear_line_and_nothing_blank_is_stored(
    fake: FakeOpenAI, make_service: Callable[..., ChatService]
) -> None:
    service = make_service()
    thread = service.create_thread().id
    fake.empty(times=3)
    events = list(service.send(thread, "what is the plan for today?"))
    (failed,) = only(events, ReplyFailed)
    assert failed.reason == "the model sent an empty reply (gave up after 3 attempts)"
    assert failed.can_retry
    assert kinds(fake) == ["reply"] * 3
    messages = service.load_messages(thread)
    assert [(m.role, m.text) for m in messages] == [("user", "what is the plan for today?")]

    # Resuming later makes one more request and stores the real reply.
    events = list(service.resume(thread))
    assert only(events, ReplyFinished)[0].message.text == "Echo: what is the plan for today?"
    assert fake.count == 4


def test_a_failed_extraction_completes_the_turn_says_why_and_is_retried_next_turn(
    fake: FakeOpenAI, make_service: Callable[..., ChatService]
) -> None:
    service = make_service()
    thread = service.create_thread().id
    fake.ok("Nice to meet you, Bob.").status(503, times=3)
    events = list(service.send(thread, BOB))

    assert not only(events, ReplyFailed)
    assert only(events, ReplyFinished)[0].message.text == "Nice to meet you, Bob."
    (missed,) = only(events, ProfileNotUpdated)
    assert missed.reason == "the model server had a problem (503), try again"
    # The reply once, the extraction three times (the retry layer's attempts).
    assert kinds(fake) == ["reply", "extract", "extract", "extract"]
    assert [r.reason for r in only(events, Retrying)] == [
        "profile extraction: the model server had a problem (503), try again"
    ] * 2
    # Nothing guessed by rules ("nurse in Oslo" as a job).
    assert service.profile() == []
    assert service.profile_not_updated(thread) == missed.reason
    assert service.list_threads()[0].interrupted is False

    # The next turn says nothing about the person, but reads the missed message.
    fake.ok("You're welcome.").structured(BOB_STATEMENTS)
    events = list(service.send(thread, "thanks!"))
    assert only(events, ProfileUpdated) and not only(events, ProfileNotUpdated)
    assert kinds(fake)[4:] == ["reply", "extract"]
    assert fake.requests[5].body["messages"][-1]["content"] == BOB
    facts = {f.key: f for f in service.profile()}
    assert {k: f.value for k, f in facts.items()} == {
        "name": "Bob",
        "job": "nurse",
        "location": "Oslo",
    }
    bob_message = service.load_messages(thread)[0]
    assert {f.message_id for f in facts.values()} == {bob_message.id}
    assert {f.learned_by for f in facts.values()} == {"model"}
    assert service.profile_not_updated(thread) == ""

    # Nothing pending: a third turn with no statement costs the reply only.
    chat(service, thread, "what is next?")
    assert fake.count == 7


def test_profile_retry_reads_the_missed_message_without_a_new_reply(
    fake: FakeOpenAI, make_service: Callable[..., ChatService]
) -> None:
    service = make_service(max_attempts=1)
    thread = service.create_thread().id
    fake.ok("Hello Bob.").ok("not json at all")
    events = list(service.send(thread, BOB))
    (missed,) = only(events, ProfileNotUpdated)
    assert missed.reason == "the model's profile answer was not the JSON asked for"
    assert fake.count == 2

    fake.structured(BOB_STATEMENTS)
    events = list(service.retry_profile(thread))
    assert only(events, ProfileUpdated)
    assert fake.count == 3 and kinds(fake)[-1] == "extract"
    assert {f.value for f in service.profile()} == {"Bob", "nurse", "Oslo"}
    assert [m.text for m in service.load_messages(thread)] == [BOB, "Hello Bob."]
    # Nothing left to read: no request.
    assert list(service.retry_profile(thread)) == []
    assert fake.count == 3


def test_a_message_that_cannot_be_about_the_person_costs_no_extraction(
    fake: FakeOpenAI, make_service: Callable[..., ChatService]
) -> None:
    service = make_service()
    thread = service.create_thread().id
    chat(service, thread, "What is the capital of France?")
    chat(service, thread, "Summarise the French revolution.")
    assert kinds(fake) == ["reply", "reply"]
    fake.ok("Noted.").structured({"statements": []})
    chat(service, thread, "I think so too")
    assert kinds(fake) == ["reply", "reply", "reply", "extract"]


def test_the_offline_model_labels_its_facts_as_read_by_rules(service: ChatService) -> None:
    thread = service.create_thread().id
    chat(service, thread, BOB)
    facts = {f.key: f for f in service.profile()}
    assert {k: f.value for k, f in facts.items()} == {
        "name": "Bob",
        "job": "nurse",
        "location": "Oslo",
    }
    assert {f.learned_by for f in facts.values()} == {"rules"}


def test_cli_summary_and_profile_retry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # A small window: a few turns overflow it.
    service = ChatService(make_settings(data, model={"context_tokens": 600, "reply_tokens": 150}))
    thread = service.create_thread().id
    chat(service, thread, "Hello, my name is Alice.")
    short = service.create_thread().id
    chat(service, short, "Hello")
    for i in range(8):
        chat(service, thread, f"Note {i}: the meeting about item {i} moved again.")
    service.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(CHAT_APP_DATA_DIR=str(data), XDG_CONFIG_HOME=str(tmp_path / "xdg"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chat_app", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    out = run("summary", short)
    assert out.returncode == 0
    assert out.stdout.strip() == "no summary: the whole thread fits in the model's requests"
    out = run("summary", thread)
    assert out.returncode == 0, out.stderr
    first, *lines = out.stdout.splitlines()
    assert first.startswith("summary of the first ") and "(extracted by rules)" in first
    assert lines[0] == "- You: Hello, my name is Alice."
    covers = int(first.split()[4])
    # `show` marks where the summary ends: after the covers-th message; none in the short one.
    shown = run("show", thread).stdout.splitlines()
    mark = f"--- the {covers} messages above reach the model as a summary ---"
    assert shown.count(mark) == 1
    before = shown[: shown.index(mark)]
    assert sum(line.startswith(("you: ", "assistant: ")) for line in before) == covers
    assert "reach the model" not in run("show", short).stdout
    out = run("profile", "retry", thread)
    assert (out.returncode, out.stdout.strip()) == (0, "profile up to date")
    missing = run("summary", "no-such-thread")
    assert missing.returncode == 1 and "no thread" in missing.stderr
