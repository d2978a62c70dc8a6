"""Assemble the agent: respond -> remember (and recall, for older runs).

``recall`` is not on the path of a new turn (``respond`` reads the profile
itself, one checkpoint fewer per turn); it stays reachable for a run that an
older version left interrupted right before it (see ``graphs.nodes``).
"""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph

from graphs.context import ChatContext
from graphs.extract import Statement, extract_statements
from graphs.nodes import Extractor, make_remember, make_respond, recall
from graphs.state import ChatState


def rule_extractor(messages: list[AnyMessage]) -> list[Statement]:
    last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    return extract_statements(str(last.content)) if last is not None else []


def build_graph(
    model: BaseChatModel, extractor: Extractor | None = None
) -> StateGraph[ChatState, ChatContext, ChatState, ChatState]:
    """The uncompiled graph; the service compiles it with its checkpointer and store."""
    builder = StateGraph(ChatState, context_schema=ChatContext)
    builder.add_node("recall", recall)
    builder.add_node("respond", make_respond(model))
    builder.add_node("remember", make_remember(extractor or rule_extractor))
    builder.add_edge(START, "respond")
    builder.add_edge("recall", "respond")
    builder.add_edge("respond", "remember")
    builder.add_edge("remember", END)
    return builder
