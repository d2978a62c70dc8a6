"""The v1 code path, frozen for the schema-migration test.

Schema v1 is today's state without the per-thread ``settings`` channel (added
in v2), and v1's recall node stamped ``state_version = 1``. Everything else
(delta-channel messages, the offline model, the strict serializer, the
threads index) is what the v1 app wrote. :func:`write_v1_thread` produces a
thread the way the v1 app did, straight into a data dir's ``chat.db``.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.sqlite import SqliteStore

from chat_app.storage.serde import strict_serde
from chat_app.storage.sqlite.backend import DB_NAME
from chat_app.storage.sqlite.index import ThreadIndex
from graphs.context import ChatContext
from graphs.models import make_offline_model
from graphs.profile import read_profile, render_profile
from graphs.prompts import system_prompt
from graphs.state import SNAPSHOT_FREQUENCY, add_message_batches

V1 = 1


class ChatStateV1(TypedDict, total=False):
    messages: Annotated[
        list[AnyMessage],
        DeltaChannel(add_message_batches, snapshot_frequency=SNAPSHOT_FREQUENCY),
    ]
    state_version: int
    profile_context: str
    learned: list[dict[str, str]]


def recall_v1(state: ChatStateV1, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    store = runtime.store
    facts = read_profile(store, runtime.context.user_id) if store is not None else []
    return {"state_version": V1, "profile_context": render_profile(facts), "learned": []}


def make_respond_v1(model: BaseChatModel) -> Any:
    def respond(state: ChatStateV1) -> dict[str, Any]:
        prompt: list[BaseMessage] = [
            SystemMessage(system_prompt(state.get("profile_context", ""))),
            *state.get("messages", []),
        ]
        reply = model.invoke(prompt)
        return {
            "messages": [
                AIMessage(
                    content=str(reply.content),
                    id=str(uuid.uuid4()),
                    response_metadata={"finish_reason": "stop"},
                )
            ]
        }

    return respond


def remember_v1(state: ChatStateV1) -> dict[str, Any]:
    return {"learned": []}


def build_v1() -> StateGraph[ChatStateV1, ChatContext, ChatStateV1, ChatStateV1]:
    builder = StateGraph(ChatStateV1, context_schema=ChatContext)
    builder.add_node("recall", recall_v1)
    builder.add_node("respond", make_respond_v1(make_offline_model()))
    builder.add_node("remember", remember_v1)
    builder.add_edge(START, "recall")
    builder.add_edge("recall", "respond")
    builder.add_edge("respond", "remember")
    builder.add_edge("remember", END)
    return builder


def write_v1_thread(
    data_dir: Path,
    user_id: str,
    texts: list[str],
    title: str = "v1",
    *,
    serde: Any = None,
    stop_before_recall: bool = False,
) -> str:
    """A thread written by the v1 app: its index row and its checkpoints.

    ``serde``: the serializer to write with (default: today's).
    ``stop_before_recall``: the last text's run stops right before the recall
    node, as a v1 process killed at that point left it (marked running).
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = data_dir / DB_NAME
    conn = sqlite3.connect(db, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    app_conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    try:
        saver = SqliteSaver(conn, serde=serde or strict_serde())
        saver.setup()
        store = SqliteStore(sqlite3.connect(db, check_same_thread=False, isolation_level=None))
        store.setup()
        index = ThreadIndex(app_conn)
        tid = index.create(user_id, title).id
        graph = build_v1().compile(checkpointer=saver, store=store)
        cfg: Any = {"configurable": {"thread_id": tid}}
        for i, text in enumerate(texts):
            last = i == len(texts) - 1
            run = graph
            if last and stop_before_recall:
                run = build_v1().compile(
                    checkpointer=saver, store=store, interrupt_before=["recall"]
                )
            run.invoke(
                {"messages": [HumanMessage(content=text, id=str(uuid.uuid4()))]},
                cfg,
                context=ChatContext(user_id=user_id),
                durability="sync",
            )
        values = graph.get_state(cfg).values
        assert values["state_version"] == V1 and "settings" not in values
        if stop_before_recall:
            assert graph.get_state(cfg).next == ("recall",)
            index.record_turn(tid, len(values["messages"]) - 1, [], [])
            index.set_run_state(tid, "running")
        else:
            index.record_turn(tid, len(values["messages"]), [], [])
        store.conn.close()
        return tid
    finally:
        conn.close()
        app_conn.close()
