"""Input from the person, the display function, privacy and the dependency floor."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.text import Text

from chat_app.safe_text import clean_input, to_display
from chat_app.service import MAX_MESSAGE_CHARS, ChatService, ServiceError
from graphs.profile import read_profile
from graphs.prompts import system_prompt
from tests.security.conftest import ESCAPES, MARKUP, chat, db_bytes

# -- input -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\t  \r\n", "\u200b", "\u00a0\u3000", "\x00"])
def test_blank_messages_are_refused_and_not_stored(service: ChatService, text: str) -> None:
    tid = service.create_thread("t").id
    before = len(service.history(tid).checkpoints)
    with pytest.raises(ServiceError, match="empty"):
        list(service.send(tid, text))
    assert len(service.history(tid).checkpoints) == before


def test_lone_surrogates_become_replacement_char_not_question_mark(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    svc = service_factory(data_dir)
    tid = svc.create_thread("t").id
    chat(svc, tid, "a\ud800b\udfffc NUL\x00 esc\x1b[31m")
    reloaded = service_factory(data_dir).load_messages(tid)[0].text
    assert reloaded == "a\ufffdb\ufffdc NUL\x00 esc\x1b[31m"
    assert "?" not in reloaded


def test_message_size_limit(service: ChatService) -> None:
    tid = service.create_thread("t").id
    big = "x" * MAX_MESSAGE_CHARS
    chat(service, tid, big)
    assert service.load_messages(tid)[0].text == big
    with pytest.raises(ServiceError) as err:
        list(service.send(tid, big + "y"))
    assert "too long" in str(err.value) and "1,000,000" in str(err.value)
    assert len(service.load_messages(tid)) == 2


def test_pasted_escapes_are_stored_literally(service: ChatService) -> None:
    tid = service.create_thread("t").id
    payload = "".join(ESCAPES.values()) + " ".join(MARKUP)
    chat(service, tid, payload)
    assert service.load_messages(tid)[0].text == clean_input(payload)
    shown = to_display(service.load_messages(tid)[0].text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown)


# T23: arbitrary text -> send -> reload from a NEW service on the same file.
_text = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\x1b", "\x9b", "\u202e", "\u200d", "\ud800", "\r\n", "\r", "["]),
    ),
    min_size=1,
    max_size=40,
).map("".join)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(_text, min_size=20, max_size=20))
def test_roundtrip_fidelity(
    texts: list[str],
    service_factory: Callable[..., ChatService],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """About 200 texts per run: each sent, then read back by a fresh service."""
    data_dir = tmp_path_factory.mktemp("rt")
    svc = service_factory(data_dir)
    sent: dict[str, str] = {}
    for text in texts:
        tid = svc.create_thread("t").id
        try:
            list(svc.send(tid, text))
        except ServiceError as exc:
            assert "empty" in str(exc)
            continue
        sent[tid] = text
    svc.close()
    fresh = service_factory(data_dir)
    for tid, text in sent.items():
        assert fresh.load_messages(tid)[0].text == clean_input(text)
    fresh.close()


# -- display (T18) ------------------------------------------------------------

_hostile = st.lists(
    st.one_of(
        st.sampled_from([*list("[]/@=\\'\"{}:;,.#"), "[@click=app.quit]", "[link=", "[/]", "[/"]),
        st.sampled_from([chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]),
        st.sampled_from(["\x1b]52;c;", "\x1b[2J", "\x1bP", "\x07", "\u202e", "\u2066", "\ud800"]),
        st.characters(),
    ),
    max_size=40,
).map("".join)
_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


@settings(max_examples=1000, deadline=None)
@given(_hostile)
def test_to_display_property(text: str) -> None:
    out = to_display(text)
    assert not _BAD.search(out)
    single = to_display(text, single_line=True)
    assert "\n" not in single and not _BAD.search(single)
    # Markup is never parsed: the Rich text is exactly the sanitised string.
    assert Text(out).plain == out
    assert not Text(out).spans
    # Every printable character survives (in order); controls become visible symbols.
    kept = [c for c in text if not _BAD.search(c) and c not in "\r\u200e\u200f\u061c"]
    it = iter(out)
    assert all(any(c == o for o in it) for c in kept)


# -- privacy ------------------------------------------------------------------


def test_forget_removes_fact_from_store_and_prompts(service: ChatService) -> None:
    tid = service.create_thread("t").id
    chat(service, tid, "My name is Zebulon")
    assert any(f.value == "Zebulon" for f in service.profile())
    assert "Zebulon" in chat(service, service.create_thread("n").id, "What's my name?")
    service.forget("name")
    assert not any("Zebulon" in f.value for f in read_profile(service.store, service.user_id))
    prompt = system_prompt(
        __import__("graphs.profile", fromlist=["render_profile"]).render_profile(service.profile())
    )
    assert "Zebulon" not in prompt
    assert "Zebulon" not in chat(service, service.create_thread("m").id, "What's my name?")


def test_deleted_thread_text_is_gone_from_the_file(service: ChatService) -> None:
    assert service.db_path is not None
    keep = service.create_thread("keep").id
    chat(service, keep, "an ordinary message to keep")
    tid = service.create_thread("secret thread").id
    secret = "PLUGH-XYZZY-" + "confidential" * 40
    chat(service, tid, secret)
    chat(service, tid, "My name is Quuxington")
    chat(service, tid, "reply to " + secret)
    assert secret.encode() in db_bytes(service.db_path.parent)
    service.delete_thread(tid)
    blob = db_bytes(service.db_path.parent)
    assert b"PLUGH-XYZZY" not in blob
    assert b"secret thread" not in blob
    # The fact stays; the quote from the deleted thread goes.
    fact = next(f for f in service.profile() if f.key == "name")
    assert fact.value == "Quuxington" and "Quuxington" not in fact.source_text
    assert fact.thread_id == ""
    assert service.load_messages(keep)[0].text == "an ordinary message to keep"


# -- T29 ------------------------------------------------------------------------


def _v(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version(name))[:3])


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        ("langgraph", (1, 0, 10)),
        ("langgraph-checkpoint", (4, 1, 1)),
        ("langgraph-checkpoint-sqlite", (3, 0, 1)),
        ("langchain-core", (1, 2, 5)),
    ],
)
def test_dependency_floor(name: str, floor: tuple[int, ...]) -> None:
    assert _v(name) >= floor
