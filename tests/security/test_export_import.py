"""Export -> import gives the same messages and branches; hostile imports change nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chat_app.service import ChatService, ServiceError
from chat_app.service.transfer import MAX_IMPORT_BYTES, read_import_file
from tests.security.conftest import ESCAPES, MARKUP, chat, db_bytes, one_error_line, run_cli

HOSTILE_TEXT = " ".join([*ESCAPES.values(), *MARKUP, "\u202eevil\u202c", "\x00nul", "\x85nel"])


def branchy_thread(service: ChatService) -> str:
    """Three branches: a rewind, an edit, and a hostile message on the head."""
    tid = service.create_thread("branchy [bold]title[/bold]").id
    chat(service, tid, "My name is Alice")
    chat(service, tid, "I live in Paris")
    chat(service, tid, "What's my name?")
    tl = service.branch_timeline(tid)
    before_paris = next(c.id for c in tl if c.summary == "you: I live in Paris")
    service.rewind(tid, before_paris)
    chat(service, tid, "I like tea")
    first_user = service.load_messages(tid)[0].id
    list(service.edit_and_resend(tid, first_user, "My name is Bob"))
    chat(service, tid, HOSTILE_TEXT)
    return tid


def branches(doc: dict[str, Any]) -> tuple[list[Any], list[str]]:
    others = sorted(json.dumps(b["messages"], sort_keys=True) for b in doc["other_branches"])
    return doc["messages"], others


def test_export_import_same_messages_and_branches(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> None:
    src = service_factory(tmp_path / "src")
    tid = branchy_thread(src)
    exported = src.export_thread(tid, "json")
    assert exported.isascii()  # control characters are \u escapes: safe to print
    doc = json.loads(exported)
    assert doc["format"] == "chat-app-thread" and doc["version"] == 2
    assert len(doc["other_branches"]) == 2
    assert doc["messages"][-2]["text"] == HOSTILE_TEXT.replace("\x00", "\x00")

    dst = service_factory(tmp_path / "dst")
    info = dst.import_thread(exported)
    assert info.id == tid  # a fresh database keeps the id
    assert info.title == src.get_thread(tid).title
    assert info.message_count == len(doc["messages"])
    again = json.loads(dst.export_thread(info.id, "json"))
    assert branches(again) == branches(doc)
    # The imported thread is a normal thread: it continues, rewinds and searches.
    assert dst.list_threads(query="Bob")[0].id == info.id
    assert "Bob" in chat(dst, info.id, "What's my name?")
    tl = dst.branch_timeline(info.id)
    assert tl and all(c.kind for c in tl)
    dst.rewind(info.id, tl[-1].id)
    assert [m.text for m in dst.load_messages(info.id)] == [
        "My name is Bob",
        doc["messages"][1]["text"],
    ]

    # A copy in the same database gets a new id and the same content.
    copy = src.import_thread(exported, new_id=True)
    assert copy.id != tid
    assert branches(json.loads(src.export_thread(copy.id, "json"))) == branches(doc)


def test_prefix_and_empty_branches_survive(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> None:
    src = service_factory(tmp_path / "src")
    tid = src.create_thread("t").id
    chat(src, tid, "one")
    chat(src, tid, "two")
    # Rewind to the very start and to the middle without continuing: leaves
    # whose messages are a beginning of another branch.
    tl = src.branch_timeline(tid)
    src.rewind(tid, next(c.id for c in tl if c.summary == "you: two"))
    src.rewind(tid, next(c.id for c in tl if c.summary == "you: one"))
    chat(src, tid, "three")
    doc = json.loads(src.export_thread(tid, "json"))
    dst = service_factory(tmp_path / "dst")
    info = dst.import_thread(json.dumps(doc))
    assert branches(json.loads(dst.export_thread(info.id, "json"))) == branches(doc)


def hostile_imports(valid: dict[str, Any]) -> list[tuple[str, str | bytes, str]]:
    msg = valid["messages"][0]

    def doc(**changes: Any) -> str:
        d = json.loads(json.dumps(valid))
        d.update(changes)
        return json.dumps(d)

    def with_msg(**changes: Any) -> str:
        m = dict(msg)
        m.update(changes)
        m = {k: v for k, v in m.items() if v is not ...}
        return doc(messages=[m])

    return [
        ("not json", "hello", "not valid JSON"),
        ("empty", "", "not valid JSON"),
        ("array", "[]", "expected a JSON object"),
        ("wrong format", doc(format="other"), "not a chat-app thread export"),
        ("no format", json.dumps({"messages": []}), "not a chat-app thread export"),
        ("future version", doc(version=99), "unsupported export version"),
        ("bool version", doc(version=True), "unsupported export version"),
        ("messages not list", doc(messages={"a": 1}), "expected a list"),
        ("missing messages", json.dumps({"format": "chat-app-thread", "version": 2}), "missing"),
        ("message not object", doc(messages=["hi"]), "expected an object"),
        ("unknown role", with_msg(role="system"), "unknown role"),
        ("tool role", with_msg(role="tool"), "unknown role"),
        ("text wrong type", with_msg(text=["a"]), "expected a string"),
        ("text number", with_msg(text=5), "expected a string"),
        ("missing text", with_msg(text=...), "missing field 'text'"),
        ("missing id", with_msg(id=...), "missing field 'id'"),
        ("empty id", with_msg(id=""), "characters"),
        ("huge id", with_msg(id="x" * 10_000), "characters"),
        ("bad status", with_msg(status="hacked"), "unknown status"),
        ("dup ids", doc(messages=[msg, msg]), "appears twice"),
        ("text too long", with_msg(text="x" * 1_000_001), "too long"),
        ("bad thread id", doc(thread={"id": "x' OR '1'='1", "title": ""}), "thread id"),
        ("path thread id", doc(thread={"id": "../../etc/passwd"}), "thread id"),
        ("title type", doc(thread={"title": {"a": 1}}), "expected a string"),
        ("branches type", doc(other_branches="x"), "expected a list"),
        ("branch no msgs", doc(other_branches=[{}]), "missing field 'messages'"),
        ("branch bad role", doc(other_branches=[{"messages": [dict(msg, role="x")]}]), "role"),
        ("deep nesting", '{"format": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        ("NaN", doc(version=float("nan")), "not a valid JSON value"),
        ("duplicate key", '{"format": "chat-app-thread", "format": "x"}', "duplicate key"),
        ("nul bytes", "\x00\x00\x00", "not valid JSON"),
    ]


def valid_doc() -> dict[str, Any]:
    return {
        "format": "chat-app-thread",
        "version": 2,
        "thread": {"id": "imported-thread-1", "title": "ok"},
        "messages": [
            {"id": "m1", "role": "user", "text": "hello", "status": ""},
            {"id": "m2", "role": "assistant", "text": "hi", "status": ""},
        ],
        "other_branches": [],
    }


@pytest.mark.parametrize(
    ("name", "data", "reason"), hostile_imports(valid_doc()), ids=lambda v: str(v)[:20]
)
def test_hostile_import_is_refused_and_changes_nothing(
    service: ChatService, name: str, data: str, reason: str
) -> None:
    tid = service.create_thread("existing").id
    chat(service, tid, "keep me")
    before_threads = service.list_threads()
    assert service.db_path is not None
    before = db_bytes(service.db_path.parent)
    with pytest.raises(ServiceError) as err:
        service.import_thread(str(data))
    text = str(err.value)
    assert text.startswith("import refused: ") and "\n" not in text, text
    assert reason in text, text
    assert service.list_threads() == before_threads
    assert db_bytes(service.db_path.parent) == before


def test_valid_doc_imports(service: ChatService) -> None:
    info = service.import_thread(json.dumps(valid_doc()))
    assert info.id == "imported-thread-1"
    assert [m.text for m in service.load_messages(info.id)] == ["hello", "hi"]


def test_id_collisions_are_refused_even_for_another_users_thread(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> None:
    data_dir = tmp_path / "shared"
    alice = service_factory(data_dir, user={"id": "alice"})
    bob = service_factory(data_dir, user={"id": "bob"})
    tid = alice.create_thread("alice's").id
    chat(alice, tid, "secret plans")
    exported = alice.export_thread(tid, "json")
    before = db_bytes(data_dir)
    for svc in (alice, bob):
        with pytest.raises(ServiceError) as err:
            svc.import_thread(exported)
        assert str(err.value).startswith(f"import refused: a thread with id {tid!r} already exists")
    assert db_bytes(data_dir) == before
    # Bob still cannot see or read Alice's thread.
    assert bob.list_threads() == []
    with pytest.raises(ServiceError):
        bob.load_messages(tid)


def test_cli_export_import_roundtrip_and_refusals(
    service_factory: Callable[..., ChatService], tmp_path: Path
) -> None:
    src_dir, dst = tmp_path / "src", tmp_path / "dst"
    src = service_factory(src_dir)
    tid = src.create_thread("t").id
    chat(src, tid, "My name is Alice \x1b]0;title\x07")
    src.close()
    exported = run_cli(src_dir, "export", tid, "--format", "json")
    assert exported.returncode == 0
    assert "\x1b" not in exported.stdout
    f = tmp_path / "t.json"
    f.write_text(exported.stdout)
    imp = run_cli(dst, "import", str(f))
    assert imp.returncode == 0, imp.stderr
    assert imp.stdout.strip() == tid
    check = service_factory(dst)
    assert check.load_messages(tid)[0].text == "My name is Alice \x1b]0;title\x07"
    check.close()

    # Refusals: one line, exit 1, nothing changed.
    before = db_bytes(dst)
    dup = run_cli(dst, "import", str(f))
    assert dup.returncode == 1 and "already exists" in one_error_line(dup)
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(MAX_IMPORT_BYTES + 10)
    proc = run_cli(dst, "import", str(big))
    assert proc.returncode == 1 and "larger than 50 MB" in one_error_line(proc)
    proc = run_cli(dst, "import", "-", stdin='{"format": [[[')
    assert proc.returncode == 1 and "not valid JSON" in one_error_line(proc)
    assert db_bytes(dst) == before


def test_import_file_reading_refusals(tmp_path: Path) -> None:
    bad_utf8 = tmp_path / "bad.json"
    bad_utf8.write_bytes(b'{"format": "\xff"}')
    for name, reason in [
        (str(tmp_path), "is a directory"),
        (str(tmp_path / "missing.json"), "No such file"),
        (str(bad_utf8), "not valid UTF-8 at byte 12"),
    ]:
        with pytest.raises(ServiceError, match=reason):
            read_import_file(name)
