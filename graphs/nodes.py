"""The three nodes of a turn: recall the profile, respond, remember."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graphs.context import ChatContext
from graphs.errors import StreamInterrupted, classify
from graphs.extract import Statement
from graphs.profile import apply_statements, read_profile, render_profile
from graphs.prompts import system_prompt
from graphs.state import ChatState, migration_updates
from graphs.streaming import stream_cancellable

Extractor = Callable[[list[AnyMessage]], list[Statement]]


def recall(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    """Bring an old thread to the current schema and load the user's profile."""
    updates = migration_updates(dict(state))
    store = runtime.store
    facts = read_profile(store, runtime.context.user_id) if store is not None else []
    updates["profile_context"] = render_profile(facts)
    updates["learned"] = []
    return updates


def make_respond(model: BaseChatModel) -> Callable[..., dict[str, Any]]:
    def respond(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
        """Stream the model's reply; a stream without finish_reason is truncated."""
        settings = state.get("settings") or {}
        prompt: list[BaseMessage] = [
            SystemMessage(
                system_prompt(state.get("profile_context", ""), settings.get("system_prompt", ""))
            ),
            *state.get("messages", []),
        ]
        writer = runtime.stream_writer
        cancel = runtime.context.cancel
        parts: list[str] = []
        finish: str | None = None
        msg_id: str | None = None
        stopped = False

        def on_chunk(chunk: AIMessageChunk) -> None:
            nonlocal finish, msg_id
            text = chunk.content if isinstance(chunk.content, str) else ""
            if text:
                parts.append(text)
                writer({"token": text})
            finish = chunk.response_metadata.get("finish_reason") or finish
            msg_id = msg_id or chunk.id

        try:
            stopped = stream_cancellable(model, prompt, cancel, on_chunk)
        except Exception as exc:
            err = classify(exc)
            if isinstance(err, StreamInterrupted) and not err.partial:
                err.partial = "".join(parts)
            raise err from exc
        if cancel.is_set():
            stopped = True
        if not stopped and finish is None:
            raise StreamInterrupted(partial="".join(parts))
        kwargs: dict[str, Any] = {"status": "stopped"} if stopped else {}
        reply = AIMessage(
            content="".join(parts),
            id=msg_id or str(uuid.uuid4()),
            response_metadata={"finish_reason": "stopped" if stopped else finish},
            additional_kwargs=kwargs,
        )
        return {"messages": [reply]}

    return respond


def make_remember(extractor: Extractor) -> Callable[..., dict[str, Any]]:
    def remember(
        state: ChatState, config: RunnableConfig, runtime: Runtime[ChatContext]
    ) -> dict[str, Any]:
        """Write what the user said about themself to the profile (idempotent)."""
        messages = state.get("messages", [])
        last_user = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        store = runtime.store
        if last_user is None or store is None:
            return {"learned": []}
        statements = extractor(messages)
        changed = apply_statements(
            store,
            runtime.context.user_id,
            statements,
            thread_id=str(config.get("configurable", {}).get("thread_id", "")),
            message_id=str(last_user.id or ""),
            source_text=str(last_user.content),
        )
        return {"learned": [{"key": f.key, "kind": f.kind, "value": f.value} for f in changed]}

    return remember
