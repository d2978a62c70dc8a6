"""Stock LangGraph and the app share one SQLite database.

Only stock LangGraph is imported here: the app runs as ``python -m chat_app``
processes. A LangGraph user opens the app's database with ``SqliteSaver`` (its
default serializer) and a graph whose ``messages`` channel is a
``DeltaChannel`` of ``add_messages``, and reads the app's messages at every
checkpoint of every branch; a thread that stock LangGraph writes into the
same file is found by ``chat-app reindex`` and continued by the app.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

CLI = [sys.executable, "-m", "chat_app"]


def add_all(state: list[AnyMessage], writes: list[Any]) -> list[AnyMessage]:
    return reduce(add_messages, writes, state)  # type: ignore[arg-type]


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], DeltaChannel(add_all)]


def stock_graph(conn: sqlite3.Connection) -> Any:
    """What a LangGraph user writes to open the app's threads."""
    return graph_on(SqliteSaver(conn, serde=JsonPlusSerializer()))


def graph_on(saver: Any) -> Any:
    """A graph with the app's message channel over a stock saver."""

    def reply(state: State) -> dict[str, Any]:
        last = state["messages"][-1]
        return {"messages": [AIMessage(content=f"stock: {last.content}", id=str(uuid.uuid4()))]}

    builder = StateGraph(State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


def run(data: Path, *args: str, ok: tuple[int, ...] = (0,), **env: str) -> str:
    """``chat-app ARGS`` on ``data`` (environment overrides in ``env``): its output."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    full.update(
        CHAT_APP_DATA_DIR=str(data),
        CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS="0",
        XDG_CONFIG_HOME=str(data.parent / "xdg"),
        LANGGRAPH_STRICT_MSGPACK="true",
        **env,
    )
    proc = subprocess.run(CLI + list(args), capture_output=True, text=True, env=full, timeout=120)
    assert proc.returncode in ok, (args, proc.returncode, proc.stderr)
    return proc.stdout + "\n" + proc.stderr


def send(data: Path, text: str, thread: str | None = None, *extra: str, **env: str) -> str:
    where = ["--thread", thread] if thread else []
    out = run(data, *extra, "send", *where, text, ok=(0, 1, 137, -9), **env)
    return thread or out.strip().splitlines()[-1]


def app_view(data: Path, thread: str, **env: str) -> dict[str, list[tuple[str, str, str]]]:
    """The app's messages at every checkpoint: (id, role, text)."""
    raw = json.loads(run(data, "show", "--every-checkpoint", thread, **env).split("\n\n")[0])
    return {cp: [(m["id"], m["role"], m["text"]) for m in msgs] for cp, msgs in raw.items()}


ROLES = {"human": "user", "ai": "assistant"}


def stock_view(db: Path, thread: str) -> dict[str, list[tuple[str, str, str]]]:
    """Stock LangGraph's messages at every checkpoint, as the chat shows them."""
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        return view_of(stock_graph(conn), thread)
    finally:
        conn.close()


def view_of(graph: Any, thread: str) -> dict[str, list[tuple[str, str, str]]]:
    out = {}
    for snap in graph.get_state_history({"configurable": {"thread_id": thread}}):
        msgs = snap.values.get("messages", [])
        out[snap.config["configurable"]["checkpoint_id"]] = [
            (m.id, ROLES[m.type], m.content) for m in msgs if m.type in ROLES
        ]
    return out


def test_stock_langgraph_reads_every_checkpoint_the_app_wrote(tmp_path: Path) -> None:
    data = tmp_path / "data"
    a = send(data, "My name is Alice")
    for text in ("second turn", "third turn", "fourth turn"):
        send(data, text, a)
    b = send(data, "another thread")
    send(data, "and more", b)
    # A rewind to an earlier message, then a new path: a fork in the tree.
    history = json.loads(run(data, "history", "--json", a).split("\n\n")[0])
    second = next(c["id"] for c in history if c["summary"] == "you: second turn")
    run(data, "rewind", a, second)
    send(data, "a different path", a)
    # A reply killed halfway (the turn is left pending in the checkpoints).
    send(data, "this reply is cut", b, "--chaos", "kill=3")
    db = data / "chat.db"
    types = {
        r[0]
        for r in sqlite3.connect(db).execute(
            "SELECT type FROM checkpoints UNION SELECT type FROM writes"
        )
    }
    assert types <= {"msgpack", "null", "empty"}, types

    def compare() -> int:
        seen = 0
        for thread in (a, b):
            app, stock = app_view(data, thread), stock_view(db, thread)
            assert set(app) == set(stock)
            for cp in app:
                assert stock[cp] == app[cp], cp
            seen += len(app)
        return seen

    before = compare()
    # Prune keeps one checkpoint of the abandoned branch: every kept
    # checkpoint still reads the same, through the app and through LangGraph.
    run(data, "discard", b)
    run(data, "prune", CHAT_APP_RETENTION_KEEP_OLD_BRANCH_CHECKPOINTS="1")
    after = compare()
    assert after < before


def test_a_thread_written_by_stock_langgraph_is_reindexed_and_continued(tmp_path: Path) -> None:
    data = tmp_path / "data"
    mine = send(data, "an app thread")
    db = data / "chat.db"
    db.chmod(0o640)  # shared on purpose: opening it must not change that
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        graph = stock_graph(conn)
        cfg: Any = {"configurable": {"thread_id": "stock-thread"}}
        graph.invoke({"messages": [HumanMessage("Plan a trip to Lisbon", id="h1")]}, cfg)
        graph.invoke({"messages": [HumanMessage("with a train", id="h2")]}, cfg)
    finally:
        conn.close()
    listed = json.loads(run(data, "threads", "--json").split("\n\n")[0])
    assert [t["id"] for t in listed] == [mine]
    assert stat.S_IMODE(db.stat().st_mode) == 0o640

    out = run(data, "reindex")
    assert "stock-thread" in out and "indexed 1 thread" in out
    listed = json.loads(run(data, "threads", "--json").split("\n\n")[0])
    found = {t["id"]: t for t in listed}
    assert set(found) == {mine, "stock-thread"}
    assert found["stock-thread"]["title"] == "Plan a trip to Lisbon"
    assert found["stock-thread"]["message_count"] == 4
    assert found["stock-thread"]["created_at"] < found["stock-thread"]["updated_at"]
    assert "indexed 0 threads" in run(data, "reindex")

    send(data, "continue it in the app", "stock-thread")
    shown = run(data, "show", "stock-thread")
    assert "you: Plan a trip to Lisbon" in shown
    assert "assistant: stock: with a train" in shown
    assert "you: continue it in the app" in shown
    assert stat.S_IMODE(db.stat().st_mode) == 0o640


@pytest.mark.parametrize("mode", [0o644])
def test_opening_a_database_the_app_did_not_create_keeps_its_mode(
    tmp_path: Path, mode: int
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "chat.db"
    sqlite3.connect(db).close()
    db.chmod(mode)
    run(data, "threads")
    assert stat.S_IMODE(db.stat().st_mode) == mode
    fresh = tmp_path / "fresh"
    run(fresh, "threads")
    assert stat.S_IMODE((fresh / "chat.db").stat().st_mode) == 0o600
