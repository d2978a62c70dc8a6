"""Reading a conversation: the messages at the head (from the short-term cache when
it has that head) or at a checkpoint, as plain ``ChatMessage`` values."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from chat_app.safe_text import one_line
from chat_app.service.errors import ServiceError
from chat_app.service.events import (
    ChatMessage,
)

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.
    from langchain_core.messages import AnyMessage, BaseMessage
    from langchain_core.runnables import RunnableConfig

    from chat_app.service.facade import ChatService


def _message_status(m: BaseMessage) -> str:
    status = m.additional_kwargs.get("status", "")
    return status if isinstance(status, str) else ""


def to_chat_message(m: BaseMessage) -> ChatMessage | None:
    return next(iter(_chat_messages([m])), None)


def _chat_messages(messages: list[AnyMessage] | list[BaseMessage]) -> list[ChatMessage]:
    from langchain_core.messages import AIMessage, HumanMessage

    out: list[ChatMessage] = []
    for m in messages:
        if isinstance(m, HumanMessage):
            role = "user"
        elif isinstance(m, AIMessage):
            role = "assistant"
        else:
            continue
        text = m.content if isinstance(m.content, str) else m.text
        out.append(ChatMessage(id=str(m.id or ""), role=role, text=text, status=_message_status(m)))
    return out


def _reading(
    thread_id: str, checkpoint_id: str | None = None
) -> contextlib.AbstractContextManager[None]:
    """Deserialize inside this block: damage becomes ``DamagedCheckpoint``."""
    from chat_app.service.damage import reading

    return reading(thread_id, checkpoint_id)


def _config(svc: ChatService, thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread_id}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
        conf["checkpoint_ns"] = ""
    return {"configurable": conf}


def _state_values(
    svc: ChatService, thread_id: str, checkpoint_id: str | None = None
) -> dict[str, Any]:
    from chat_app.service.damage import check_messages
    from graphs.state import migrate_values

    with _reading(thread_id, checkpoint_id):
        snap = svc.graph.get_state(svc._config(thread_id, checkpoint_id))
    values = dict(snap.values or {})
    check_messages(thread_id, checkpoint_id, values)
    return migrate_values(values)


def load_messages(
    svc: ChatService, thread_id: str, checkpoint_id: str | None = None
) -> list[ChatMessage]:
    """The conversation at the head, or at ``checkpoint_id``."""
    svc.get_thread(thread_id)
    if checkpoint_id is None:
        return svc._head_messages(thread_id)
    svc._check_checkpoint(thread_id, checkpoint_id)
    return _chat_messages(svc._state_values(thread_id, checkpoint_id).get("messages", []))


def _check_checkpoint(svc: ChatService, thread_id: str, checkpoint_id: str) -> None:
    with _reading(thread_id, checkpoint_id):
        tup = svc.backend.saver.get_tuple(svc._config(thread_id, checkpoint_id))
    if tup is None:
        raise ServiceError(f"no checkpoint {one_line(checkpoint_id, 60)!r} in this thread")


def _head_messages(svc: ChatService, thread_id: str) -> list[ChatMessage]:
    """Messages at the head, from the short-term cache when it has this head."""
    running = svc.index.is_running(thread_id)
    chosen = None if running else svc.index.chosen_head(thread_id)
    if chosen is not None:
        # The person switched to another branch: its end is the head.
        cached = svc._message_cache.get(thread_id, chosen)
        if cached is None:
            values = svc._state_values(thread_id, chosen)
            cached = _chat_messages(values.get("messages", []))
            svc._message_cache.put(thread_id, chosen, cached)
        return cached
    head = None if running else svc.index.newest_checkpoint(thread_id)
    if head is not None:
        cached = svc._message_cache.get(thread_id, head)
        if cached is not None:
            return cached
    msgs = svc.backend.head_messages(thread_id)
    if msgs is None:
        msgs = _chat_messages(svc._state_values(thread_id).get("messages", []))
    if head is not None:
        svc._message_cache.put(thread_id, head, msgs)
    return msgs
