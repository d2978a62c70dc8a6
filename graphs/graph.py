"""Assemble the agent: respond -> remember (and recall, for older runs).

``recall`` is not on the path of a new turn (``respond`` reads the profile
itself, one checkpoint fewer per turn); it stays reachable for a run that an
older version left interrupted right before it (see ``graphs.nodes``).
"""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from graphs.budget import ContextBudget, context_budget
from graphs.context import ChatContext
from graphs.extract import Statement, extract_statements
from graphs.nodes import Extractor, make_remember, make_respond, recall
from graphs.state import ChatState
from graphs.summarizer import summarizer_for


def rule_extractor(text: str) -> list[Statement]:
    return extract_statements(text)


def default_budget(model: BaseChatModel) -> ContextBudget:
    from graphs.offline import OfflineChatModel

    if isinstance(model, OfflineChatModel):
        return context_budget("offline")
    return context_budget(str(getattr(model, "model_name", "") or "unknown"))


def build_graph(
    model: BaseChatModel,
    extractor: Extractor | None = None,
    *,
    budget: ContextBudget | None = None,
) -> StateGraph[ChatState, ChatContext, ChatState, ChatState]:
    """The uncompiled graph; the service compiles it with its checkpointer and store.

    ``extractor`` None: profile statements are read by rules (the offline
    model's way), and their provenance says so.
    """
    budget = budget or default_budget(model)
    builder = StateGraph(ChatState, context_schema=ChatContext)
    builder.add_node("recall", recall)
    builder.add_node("respond", make_respond(model, budget, summarizer_for(model, budget)))
    builder.add_node(
        "remember",
        make_remember(extractor or rule_extractor, "rules" if extractor is None else "model"),
    )
    builder.add_edge(START, "respond")
    builder.add_edge("recall", "respond")
    builder.add_edge("respond", "remember")
    builder.add_edge("remember", END)
    return builder
