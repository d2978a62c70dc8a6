"""What a turn stores, on real SQLite files: the compact layout of a new
database, the serializer's preset dictionary, compact metadata, two steps per
turn; and databases written by earlier versions, which keep their layout and
continue."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from chat_app.service import ChatService
from chat_app.storage import compression
from chat_app.storage.serde import ZDICT_PREFIX, ZDICT_V1, strict_serde
from chat_app.storage.sqlite.checkpoint_schema import create_checkpoint_tables
from chat_app.storage.sqlite.fast_saver import compact_metadata
from chat_app.storage.sqlite.head_reader import read_head
from graphs.state import STATE_VERSION
from tests.conftest import chat
from tests.legacy_v1 import write_v1_thread

USER = "layout"

# The app_notes table as versions before the compact layout created it.
OLD_NOTES_SCHEMA = """
CREATE TABLE IF NOT EXISTS app_notes (
    thread_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    profile_updated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (thread_id, checkpoint_id)
);
"""


class OldSerializer(JsonPlusSerializer):
    """The serializer before the preset dictionary: plain zlib from 512 bytes."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        typ, data = super().dumps_typed(obj)
        if len(data) >= 512:
            return "z:" + typ, zlib.compress(data, 6)
        return typ, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        typ, blob = data
        if typ.startswith("z:"):
            return super().loads_typed((typ[2:], zlib.decompress(blob)))
        return super().loads_typed(data)


def db(svc: ChatService) -> sqlite3.Connection:
    assert svc.db_path is not None
    return sqlite3.connect(svc.db_path)


def without_rowid(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (table,)).fetchone()
    return "WITHOUT ROWID" in row[0].upper()


def autoindexes(conn: sqlite3.Connection) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'sqlite_autoindex_%'"
        )
    }


def rows(conn: sqlite3.Connection, table: str, thread_id: str) -> int:
    return int(
        conn.execute(f"SELECT count(*) FROM {table} WHERE thread_id = ?", (thread_id,)).fetchone()[
            0
        ]
    )


# -- a new database ---------------------------------------------------------------


def test_a_new_database_gets_the_compact_layout(service: ChatService) -> None:
    t = service.create_thread().id
    chat(service, t, "hello")
    conn = db(service)
    try:
        # Small rows, stored once: no second copy of their key in an index.
        assert without_rowid(conn, "app_notes")
        # Rows of about a kilobyte or more keep a rowid (no overflow pages):
        # checkpoints in LangGraph's format, whole messages.
        assert not without_rowid(conn, "checkpoints")
        assert not without_rowid(conn, "writes")
        assert not without_rowid(conn, "app_messages")
        idx = autoindexes(conn)
        assert "sqlite_autoindex_app_notes_1" not in idx
        assert "sqlite_autoindex_writes_1" in idx
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    """Name, type, not-null, default and key position of each column."""
    return [tuple(r[1:]) for r in conn.execute(f"PRAGMA table_info({table})")]


def test_the_tables_made_without_langgraph_are_the_checkpointers(tmp_path: Path) -> None:
    # A new database gets its checkpoint tables before LangGraph is loaded; the
    # checkpointer must then find exactly the tables it would have made.
    ours = sqlite3.connect(tmp_path / "ours.db", isolation_level=None)
    create_checkpoint_tables(ours)
    theirs = sqlite3.connect(tmp_path / "theirs.db", check_same_thread=False)
    SqliteSaver(theirs).setup()
    for table in ("checkpoints", "writes"):
        assert columns(ours, table) == columns(theirs, table), table
    # And the checkpointer's own set-up leaves ours as it is.
    saver = SqliteSaver(ours)
    saver.setup()
    for table in ("checkpoints", "writes"):
        assert columns(ours, table) == columns(theirs, table), table
    ours.close()
    theirs.close()


def test_a_first_start_does_not_load_langgraph(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from chat_app.config import load_settings\n"
        "from chat_app.service import ChatService\n"
        "overrides = {'storage': {'data_dir': sys.argv[1]}}\n"
        "svc = ChatService(load_settings(None, env={}, overrides=overrides,"
        " use_user_config=False))\n"
        "assert svc.list_threads() == [] and svc.pending_runs() == []\n"
        "print(sorted(m for m in sys.modules if m.startswith('lang')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_turn_is_four_checkpoints_and_five_writes(service: ChatService) -> None:
    t = service.create_thread().id
    chat(service, t, "first")
    conn = db(service)
    try:
        before = rows(conn, "checkpoints", t), rows(conn, "writes", t)
        chat(service, t, "second")
        after = rows(conn, "checkpoints", t), rows(conn, "writes", t)
        # input, __start__, respond, remember; the input and the reply are two
        # of the writes, the routing to respond and to remember and what
        # remember learned the other three.
        assert (after[0] - before[0], after[1] - before[1]) == (4, 5)
        channels = [
            r[0]
            for r in conn.execute(
                "SELECT channel FROM writes WHERE thread_id = ? ORDER BY checkpoint_id, idx",
                (t,),
            )
        ][before[1] :]
        assert sorted(channels) == sorted(
            ["messages", "branch:to:respond", "messages", "branch:to:remember", "learned"]
        )
        # Every new checkpoint is in LangGraph's own format (no custom type tag).
        types = {
            r[0] for r in conn.execute("SELECT type FROM checkpoints WHERE thread_id = ?", (t,))
        }
        assert types == {"msgpack"}
    finally:
        conn.close()
    # The timeline still has one user and one assistant entry per turn.
    kinds = [c.kind for c in service.branch_timeline(t)]
    assert kinds == ["assistant", "user", "assistant", "user"]


def test_only_a_turn_that_rewrites_the_summary_writes_it(
    service_factory: Callable[..., ChatService],
) -> None:
    service = service_factory(model={"context_tokens": 600, "reply_tokens": 150})
    t = service.create_thread().id
    chat(service, t, "first")
    conn = db(service)
    try:
        extra: list[int] = []
        for i in range(12):
            before = rows(conn, "checkpoints", t), rows(conn, "writes", t)
            chat(service, t, f"turn {i} of a thread that outgrows a small window")
            after = rows(conn, "checkpoints", t), rows(conn, "writes", t)
            assert after[0] - before[0] == 4
            extra.append(after[1] - before[1] - 5)
        summary_writes = conn.execute(
            "SELECT count(*) FROM writes WHERE thread_id = ? AND channel = 'history_summary'",
            (t,),
        ).fetchone()[0]
    finally:
        conn.close()
    # One more write on the turns that rewrote the summary, none on the others.
    assert set(extra) == {0, 1}
    assert sum(extra) == summary_writes
    assert 1 <= summary_writes <= 4


def test_metadata_is_compact_and_reads_back_as_before(service: ChatService) -> None:
    t = service.create_thread().id
    chat(service, t, "hello")
    chat(service, t, "again")
    conn = db(service)
    try:
        metas = [
            r[0] for r in conn.execute("SELECT metadata FROM checkpoints WHERE thread_id = ?", (t,))
        ]
    finally:
        conn.close()
    for raw in metas:
        text = raw.decode("utf-8")
        assert " " not in text and "parents" not in text
        meta = json.loads(text)
        assert meta["source"] in ("input", "loop") and isinstance(meta["step"], int)
    # LangGraph's own reading of it: metadata keys and the default for "parents".
    cfg: Any = {"configurable": {"thread_id": t}}
    history = list(service.graph.get_state_history(cfg))
    assert len(history) == 8
    assert [h.metadata["step"] for h in history] == list(range(6, -2, -1))  # type: ignore[index]
    assert all(h.metadata.get("parents", {}) == {} for h in history)  # type: ignore[union-attr]
    # The history pane reads step and source from the rows with its own query.
    steps = [(c.step, c.source) for c in service.history(t).checkpoints]
    assert steps == [(h.metadata["step"], h.metadata["source"]) for h in history][::-1]  # type: ignore[index]


def test_compact_metadata_keeps_a_non_empty_parents_map() -> None:
    assert json.loads(compact_metadata({"step": 1, "parents": {"": "abc"}})) == {
        "step": 1,
        "parents": {"": "abc"},
    }
    assert compact_metadata({"source": "loop", "step": 2, "parents": {}}) == (
        b'{"source":"loop","step":2}'
    )
    assert compact_metadata({"source": "ünïcode"}) == '{"source":"ünïcode"}'.encode()


def test_the_profile_is_in_the_prompt_but_not_copied_into_checkpoints(
    service: ChatService,
) -> None:
    t = service.create_thread().id
    chat(service, t, "My name is Alice and I live in Lisbon")
    # A new thread knows the name from the profile alone.
    t2 = service.create_thread().id
    assert "Alice" in chat(service, t2, "What is my name?")
    conn = db(service)
    try:
        blobs = conn.execute("SELECT type, checkpoint FROM checkpoints")
        for typ, blob in blobs:
            assert b"What you know about the user" not in compression.decompress(typ, blob)[1], typ
    finally:
        conn.close()
    for thread in (t, t2):
        cfg: Any = {"configurable": {"thread_id": thread}}
        for snap in service.graph.get_state_history(cfg):
            assert not snap.values.get("profile_context")


# -- the serializer -----------------------------------------------------------------


def test_the_preset_dictionary_never_changes() -> None:
    # Every zd1: blob ever written needs exactly these bytes to be read back.
    assert len(ZDICT_V1) == 3812
    assert hashlib.sha256(ZDICT_V1).hexdigest() == (
        "c5951e1aa3bd6c70273b2f414574125799015a48dc147e750f068d534d0f0035"
    )


def test_the_dictionary_encoder_writes_plain_msgpack() -> None:
    sample = {
        "a": [None, True, False, 0, 127, 128, 255, 256, 65535],
        "s" * 40: "x" * 300,
        "m": {str(i): i for i in range(20)},
        "l": list(range(20)),
    }
    assert compression._mp(sample) == ormsgpack.packb(sample)


def test_serializer_round_trips_and_reads_the_older_forms() -> None:
    s = strict_serde()
    msgs = [
        HumanMessage(content="hi " * 50, id="h1"),
        AIMessage(content="a reply " * 40, id="a1", response_metadata={"finish_reason": "stop"}),
    ]
    typ, blob = s.dumps_typed(msgs)
    # Written exactly as LangGraph's own serializer writes it.
    assert (typ, blob) == JsonPlusSerializer().dumps_typed(msgs)
    assert s.loads_typed((typ, blob)) == msgs
    assert s.dumps_typed([]) == ("msgpack", b"\x90")
    assert s.dumps_typed(None) == ("null", b"")
    # What older versions wrote: plain zlib ("z:") and uncompressed.
    old_typ, old_blob = OldSerializer().dumps_typed(msgs)
    assert old_typ == "z:msgpack"
    assert s.loads_typed((old_typ, old_blob)) == msgs
    # And the preset-dictionary form of the versions since.
    zd_typ, zd_blob = compression.compress(typ, blob)
    assert zd_typ == ZDICT_PREFIX + "msgpack"
    assert s.loads_typed((zd_typ, zd_blob)) == msgs
    plain = JsonPlusSerializer().dumps_typed(msgs)
    assert s.loads_typed(plain) == msgs


def test_serializer_refuses_a_blob_that_expands_beyond_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = strict_serde()
    typ, blob = compression.compress(*s.dumps_typed(["x" * 5000]))
    monkeypatch.setattr(compression, "MAX_BLOB_BYTES", 1000)
    with pytest.raises(ValueError, match="size limit"):
        s.loads_typed((typ, blob))


# -- databases of earlier versions ----------------------------------------------------


def write_previous_layout(data: Path, said: list[str], **kwargs: Any) -> str:
    """A database as the versions before the compact layout left it: rowid
    tables, plain-zlib blobs, spaced metadata with ``parents``, and the
    recall -> respond -> remember graph (five checkpoints per turn)."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = sqlite3.connect(data / "chat.db")
    conn.executescript(OLD_NOTES_SCHEMA)
    conn.close()
    return write_v1_thread(data, USER, said, serde=OldSerializer(), **kwargs)


def test_a_database_of_the_previous_layout_opens_and_continues(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    said = [f"old message {i} " + "words " * 120 for i in range(4)]
    thread = write_previous_layout(data, said)

    svc = service_factory(data, user={"id": USER})
    conn = db(svc)
    try:
        assert not without_rowid(conn, "checkpoints") and not without_rowid(conn, "app_notes")
        old_rows = rows(conn, "checkpoints", thread)
        assert old_rows == 5 * len(said)
        old_types = {r[0] for r in conn.execute("SELECT type FROM checkpoints")}
        assert "z:msgpack" in old_types
        assert b'"parents": {}' in conn.execute("SELECT metadata FROM checkpoints").fetchone()[0]
    finally:
        conn.close()
    assert [m.text for m in svc.load_messages(thread)][::2] == said

    chat(svc, thread, "and now the compact layout")
    assert [m.text for m in svc.load_messages(thread)][::2] == [*said, "and now the compact layout"]
    values = svc.graph.get_state({"configurable": {"thread_id": thread}}).values
    assert values["state_version"] == STATE_VERSION
    # The copy of the profile an older version kept is cleared.
    assert values["profile_context"] == ""
    conn = db(svc)
    try:
        # The tables keep their layout; new rows go in beside the old ones.
        assert not without_rowid(conn, "checkpoints") and not without_rowid(conn, "app_notes")
        assert "sqlite_autoindex_checkpoints_1" in autoindexes(conn)
        assert rows(conn, "checkpoints", thread) == old_rows + 4
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()

    # Old history: every step is listed, a state in it loads, rewinding into it works.
    hist = svc.history(thread)
    assert len(hist.checkpoints) == old_rows + 4
    inputs = [c for c in hist.checkpoints if c.source == "input"]
    assert [m.text for m in svc.load_messages(thread, inputs[2].id)][::2] == said[:2]
    svc.rewind(thread, inputs[2].id)
    chat(svc, thread, "a branch from old history")
    assert [m.text for m in svc.load_messages(thread)][::2] == [
        *said[:2],
        "a branch from old history",
    ]
    # ...and forking from the old branch's head too.
    old_head = max(
        c.id for c in svc.history(thread).checkpoints if c.id not in svc.history(thread).branch_ids
    )
    for _ in svc.send(thread, "fork of the old branch", from_checkpoint=old_head):
        pass
    assert [m.text for m in svc.load_messages(thread)][::2][-3:] == [
        said[-1],
        "and now the compact layout",
        "fork of the old branch",
    ]
    assert svc.pending_runs() == []


def test_a_run_an_older_version_left_before_recall_resumes(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    """The recall node is off the path of a new turn, but a run an older
    version left right before it (killed after the input) still finishes."""
    data = tmp_path / "data"
    said = ["My name is Bob", "first question", "interrupted question"]
    thread = write_previous_layout(data, said, stop_before_recall=True)

    svc = service_factory(data, user={"id": USER})
    pending = svc.pending_runs()
    assert [(p.thread_id, p.user_text) for p in pending] == [(thread, "interrupted question")]
    for _ in svc.resume(thread):
        pass
    msgs = svc.load_messages(thread)
    assert [m.role for m in msgs] == ["user", "assistant"] * 3
    assert [m.text for m in msgs][::2] == said
    assert svc.pending_runs() == []
    assert not svc.get_thread(thread).interrupted
    assert "Bob" in chat(svc, thread, "What is my name?")


def test_the_head_reader_reads_both_blob_forms(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    """The start-up reader (plain SQL and msgpack, no LangGraph) reads the
    older plain-zlib blobs and the stock ones alike."""
    data = tmp_path / "data"
    said = [f"old message {i} " + "words " * 120 for i in range(3)]
    thread = write_previous_layout(data, said)
    svc = service_factory(data, user={"id": USER})
    conn = sqlite3.connect(data / "chat.db")
    try:
        old = read_head(conn, thread)
        assert old is not None and [m.text for m in old][::2] == said
        chat(svc, thread, "now written in the stock format")
        new = read_head(conn, thread)
        assert new is not None
        assert [m.text for m in new][::2] == [*said, "now written in the stock format"]
        types = {r[0] for r in conn.execute("SELECT type FROM writes WHERE channel = 'messages'")}
        assert {"z:msgpack", "msgpack"} <= types
    finally:
        conn.close()
    fresh = svc.create_thread().id
    chat(svc, fresh, "a new thread")
    conn = sqlite3.connect(data / "chat.db")
    try:
        head = read_head(conn, fresh)
    finally:
        conn.close()
    assert head is not None and head[0].text == "a new thread"
    assert [(m.id, m.text) for m in head] == [(m.id, m.text) for m in svc.load_messages(fresh)]
