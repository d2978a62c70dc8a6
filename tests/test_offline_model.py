"""The offline model: behaviour, streaming contract, determinism and chaos."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGenerationChunk

from graphs.errors import TransientModelError
from graphs.offline import INTRO, Chaos, OfflineChatModel, tokens
from graphs.profile import PROFILE_HEADER, ProfileFact, render_profile

ROOT = Path(__file__).resolve().parents[1]


def system(*facts: tuple[str, str]) -> SystemMessage:
    block = render_profile(ProfileFact(key=k, kind=k, value=v) for k, v in facts)
    return SystemMessage("You are a helpful assistant.\n\n" + block)


def convo(*turns: str, profile: SystemMessage | None = None) -> list[BaseMessage]:
    """Alternating human/AI messages; the last one is the human's new message."""
    msgs: list[BaseMessage] = [profile or system()]
    for i, text in enumerate(turns):
        msgs.append(HumanMessage(text) if i % 2 == 0 else AIMessage(text))
    return msgs


def reply(*turns: str, profile: SystemMessage | None = None, **kw: object) -> str:
    model = OfflineChatModel(**kw)  # type: ignore[arg-type]
    out = model.invoke(convo(*turns, profile=profile))
    assert isinstance(out.content, str)
    return out.content


def raw(model: OfflineChatModel, msgs: list[BaseMessage]) -> list[ChatGenerationChunk]:
    """The model's own chunks (``stream()`` adds an empty closing chunk of its own)."""
    return list(model._stream(msgs))


def finish_reasons(chunks: list[Any]) -> list[str]:
    return [
        c.response_metadata["finish_reason"]
        for c in chunks
        if "finish_reason" in c.response_metadata
    ]


def later(text: str, profile: SystemMessage | None = None) -> str:
    """A reply that is not the first of its thread (so no intro line)."""
    return reply("hi", "Hello!", text, profile=profile)


ALICE = system(
    ("name", "Alice"),
    ("location", "Paris"),
    ("job", "teacher"),
    ("like", "jazz"),
    ("dislike", "mornings"),
    ("fact", "has a dog"),
)


# --- honesty ---------------------------------------------------------------


def test_first_reply_says_it_is_the_offline_model() -> None:
    assert INTRO in reply("hello")
    assert "I'm the offline model — no network, no API key" in reply("hello")
    assert INTRO not in later("hello")


@pytest.mark.parametrize(
    "question",
    ["who are you?", "What are you", "are you real?", "Are you ChatGPT?", "which model is this?"],
)
def test_identity_is_honest_and_says_how_to_switch(question: str) -> None:
    text = later(question)
    assert "offline model" in text
    assert "no network" in text
    assert "--model openai:gpt-4o-mini" in text
    assert "OPENAI_API_KEY" in text


def test_help_lists_what_it_can_do() -> None:
    text = later("help")
    for word in ("Remembers you", "Recalls this conversation", "Code", "Lists", "Long answers"):
        assert word in text


def test_unknown_question_admits_it_cannot_answer() -> None:
    text = later("What is the capital of France?")
    assert "can't answer" in text
    assert "Paris" not in text


def test_fallback_reflects_on_the_message() -> None:
    text = later("I think the weather is nice today")
    assert "I think the weather is nice today" in text
    assert "7 words" in text
    assert "help" in text


# --- profile ---------------------------------------------------------------


def test_name_from_profile() -> None:
    assert later("What's my name?", ALICE) == "Your name is Alice."


def test_unknown_name_says_so_and_how_to_tell() -> None:
    text = later("what is my name?")
    assert "don't know your name" in text
    assert "my name is" in text


def test_location_job_likes_from_profile() -> None:
    assert later("Where do I live?", ALICE) == "You live in Paris."
    assert later("what do I do?", ALICE) == "You work as a teacher."
    assert later("What do I like?", ALICE) == "You like jazz. You don't like mornings."
    assert later("do I like jazz?", ALICE) == "Yes — you told me you like jazz."
    assert later("do I like mornings?", ALICE) == "No — you told me you don't like mornings."
    assert "haven't told me" in later("do I like opera?", ALICE)


def test_what_do_you_know_about_me() -> None:
    text = later("What do you know about me?", ALICE)
    for part in ("Alice", "Paris", "teacher", "jazz", "mornings", "You have a dog"):
        assert part in text
    assert "Nothing yet" in later("what do you know about me?")


def test_profile_block_is_parsed_after_other_system_text() -> None:
    sys_msg = SystemMessage(f"Be nice.\n\nExtra line.\n\n{PROFILE_HEADER}\n- name: Zoë")
    assert later("what's my name?", sys_msg) == "Your name is Zoë."


def test_short_answer_preference_is_respected() -> None:
    short = system(("preference", "short answers"))
    assert len(later("tell me a story", short)) < len(later("tell me a story"))
    assert "Keeping it short" in later("tell me a story", short)
    assert len(later("tell me a long story", short)) == len(later("tell me a long story"))
    assert later("blah blah", short) == "You said: “blah blah” (2 words)."


def test_bullet_point_preference_shapes_the_fallback() -> None:
    bullets = system(("preference", "bullet points"))
    assert later("blah blah", bullets).startswith("- ")


# --- acknowledging new facts --------------------------------------------------


def test_acknowledges_a_new_name() -> None:
    assert later("My name is Alice") == "Nice to meet you, Alice! I'll remember your name."


def test_acknowledges_a_renamed_user() -> None:
    text = later("call me Al", ALICE)
    assert "I'll call you Al" in text
    assert "Alice" in text


def test_acknowledges_location_and_several_facts() -> None:
    assert later("I live in Paris") == "Got it — you live in Paris."
    text = later("I'm Bob and I live in Oslo. I love chess.")
    assert "Nice to meet you, Bob!" in text
    assert "you live in Oslo" in text
    assert "you like chess" in text


def test_current_message_counts_for_questions() -> None:
    assert later("My name is Bob. What's my name?").endswith("Your name is Bob.")


def test_earlier_messages_of_the_thread_count_when_the_profile_is_silent() -> None:
    text = reply("my name is Bob", "Nice to meet you, Bob!", "what's my name?")
    assert text == "Your name is Bob."


def test_profile_wins_over_older_messages() -> None:
    text = reply("my name is Bob", "Nice to meet you!", "what's my name?", profile=ALICE)
    assert text == "Your name is Alice."


# --- recalling the conversation ----------------------------------------------


CHAT = ("I love tea", "Noted.", "show me code", "```python\n```", "what's up", "Not much.")


def test_first_message() -> None:
    text = reply(*CHAT, "What was my first message?")
    assert "I love tea" in text
    assert "first message in this conversation" in reply("what was my first message?")


def test_what_did_i_say_earlier() -> None:
    text = reply(*CHAT, "What did I say earlier?")
    assert "I love tea" in text and "show me code" in text and "what's up" in text
    assert "what's up" in reply(*CHAT, "what did I just say?")


def test_summary_and_count() -> None:
    text = reply(*CHAT, "Summarize our conversation")
    assert "3 messages" in text
    assert "I love tea" in text
    count = reply(*CHAT, "how many messages have we exchanged?")
    assert "7 messages" in count
    assert "4 from you" in count and "3 from me" in count


# --- shapes: code, lists, long text, greetings ----------------------------------


def test_code_request_gives_a_python_block() -> None:
    text = later("show me python code")
    assert "```python\n" in text
    assert text.count("```") == 2
    fib = later("write a function for fibonacci")
    assert "def fibonacci" in fib


def test_list_request_gives_a_markdown_list() -> None:
    text = later("give me a list of steps to learn chess")
    assert "learn chess" in text
    assert "\n1. " in text and "\n2. " in text


@pytest.mark.parametrize("ask", ["tell me a story", "explain in detail how tides work"])
def test_long_request_gives_several_paragraphs(ask: str) -> None:
    text = later(ask)
    assert text.count("\n\n") >= 4
    assert len(text) > 1000


def test_greeting_uses_the_name() -> None:
    assert later("Hello!", ALICE).startswith("Hello, Alice!")


def test_empty_message() -> None:
    assert "empty" in later("   ")


# --- streaming contract ---------------------------------------------------------


def test_stream_contract() -> None:
    model = OfflineChatModel()
    msgs = convo("tell me a story")
    chunks = raw(model, msgs)
    assert len(chunks) > 50
    assert len({c.message.id for c in chunks}) == 1
    assert all(c.text for c in chunks[:-1])
    last = chunks[-1].message
    assert last.content == ""
    assert last.response_metadata == {"finish_reason": "stop", "model_name": "offline"}
    assert finish_reasons([c.message for c in chunks]) == ["stop"]
    streamed = "".join(c.text for c in chunks)
    assert streamed == model.invoke(msgs).content


def test_public_stream_as_the_respond_node_sees_it() -> None:
    model = OfflineChatModel()
    msgs = convo("tell me a story")
    chunks = list(model.stream(msgs))
    # langchain-core may close the stream with an empty chunk of its own.
    ours = [c for c in chunks if c.content or c.response_metadata.get("finish_reason")]
    assert len({c.id for c in ours}) == 1
    assert chunks[0].id == ours[-1].id
    assert finish_reasons(chunks) == ["stop"]
    assert "".join(str(c.content) for c in chunks) == model.invoke(msgs).content


def test_stream_keeps_markdown_structure() -> None:
    model = OfflineChatModel()
    msgs = convo("hi", "Hello!", "show me python code")
    parts = [str(c.content) for c in model.stream(msgs)]
    assert "".join(parts) == model.invoke(msgs).content
    assert "\n```python\n" in "".join(parts)
    assert all(p.strip() or "\n" in p or p == "" for p in parts)


def test_tokens_round_trip() -> None:
    text = "  Hello,  world!\n\n```python\n    x = 1\n```\n"
    assert "".join(tokens(text)) == text


def test_reply_ids_are_unique() -> None:
    model = OfflineChatModel()
    msgs = convo("hello")
    a = {c.id for c in model.stream(msgs)}
    b = {c.id for c in model.stream(msgs)}
    assert a.isdisjoint(b)
    assert model.invoke(msgs).id != model.invoke(msgs).id


def test_token_delay_is_applied() -> None:
    import time

    model = OfflineChatModel(token_delay_s=0.01)
    start = time.monotonic()
    n = len(list(model.stream(convo("hello"))))
    assert time.monotonic() - start >= 0.01 * (n - 3)


def test_callbacks_get_each_token() -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    seen: list[str] = []

    class Handler(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: object) -> None:
            seen.append(token)

    model = OfflineChatModel()
    msgs = convo("hello")
    chunks = list(model.stream(msgs, config={"callbacks": [Handler()]}))
    assert "".join(seen) == "".join(str(c.content) for c in chunks)


def test_deterministic() -> None:
    for ask in ("hello", "tell me a story", "show me code", "what do you know about me?"):
        assert reply(ask, profile=ALICE) == reply(ask, profile=ALICE)


def test_list_content_messages() -> None:
    msgs: list[BaseMessage] = [
        system(("name", "Alice")),
        HumanMessage(content=[{"type": "text", "text": "what's my name?"}]),
    ]
    assert "Your name is Alice." in str(OfflineChatModel().invoke(msgs).content)


# --- chaos ------------------------------------------------------------------------


def test_fail_next_raises_exactly_n_times() -> None:
    chaos = Chaos(fail_next=2)
    model = OfflineChatModel(chaos=chaos)
    assert model.chaos is chaos  # shared, so a demo can arm it while running
    msgs = convo("hello")
    for left in (1, 0):
        with pytest.raises(TransientModelError) as info:
            list(model.stream(msgs))
        assert info.value.status == 503
        assert "simulated outage (chaos)" in str(info.value)
        assert chaos.fail_next == left
    assert finish_reasons(list(model.stream(msgs))) == ["stop"]


def test_fail_next_applies_to_invoke() -> None:
    chaos = Chaos(fail_next=1)
    model = OfflineChatModel(chaos=chaos)
    with pytest.raises(TransientModelError):
        model.invoke(convo("hello"))
    assert model.invoke(convo("hello")).content


def test_fail_next_raises_before_any_token() -> None:
    model = OfflineChatModel(chaos=Chaos(fail_next=1))
    got: list[object] = []
    with pytest.raises(TransientModelError):
        for chunk in model.stream(convo("hello")):
            got.append(chunk)
    assert got == []


def test_drop_stream_after_ends_without_finish_reason_once() -> None:
    chaos = Chaos(drop_stream_after=3)
    model = OfflineChatModel(chaos=chaos)
    msgs = convo("tell me a story")
    chunks = list(model.stream(msgs))
    assert [c.content for c in chunks if c.content] == ["I'm ", "the ", "offline "]
    assert finish_reasons(chunks) == []
    assert chaos.drop_stream_after == 0
    assert finish_reasons(list(model.stream(msgs))) == ["stop"]


def test_kill_after_tokens_kills_the_process() -> None:
    script = textwrap.dedent(
        """
        import sys
        from langchain_core.messages import HumanMessage
        from graphs.offline import Chaos, OfflineChatModel

        model = OfflineChatModel(chaos=Chaos(kill_after_tokens=3))
        for chunk in model.stream([HumanMessage("tell me a story")]):
            sys.stdout.write("TOKEN\\n")
            sys.stdout.flush()
        sys.stdout.write("SURVIVED\\n")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.count("TOKEN") == 3
    assert "SURVIVED" not in proc.stdout


# --- robustness -----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text(), st.lists(st.text(max_size=200), max_size=6))
def test_arbitrary_input_never_raises(text: str, history: list[str]) -> None:
    model = OfflineChatModel()
    msgs: list[BaseMessage] = [SystemMessage(f"{PROFILE_HEADER}\n- name: {text[:20]}")]
    for i, h in enumerate(history):
        msgs.append(HumanMessage(h) if i % 2 == 0 else AIMessage(h))
    msgs.append(HumanMessage(text))
    chunks = list(model.stream(msgs))
    assert finish_reasons(chunks) == ["stop"]
    assert "".join(str(c.content) for c in chunks) == model.invoke(msgs).content


def test_huge_message_is_fast() -> None:
    import time

    start = time.monotonic()
    text = later("I like " + "jazz, " * 200_000)
    assert text
    assert time.monotonic() - start < 5
