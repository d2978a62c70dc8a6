"""The nodes of a turn: respond (with the profile recalled), then remember.

``respond`` brings an old thread to the current schema, reads the user's
profile and streams the reply; ``remember`` writes what the user said about
themself to the profile. Every superstep is a checkpoint (and a few writes
rows) in every turn of every thread, so the profile is read inside
``respond`` rather than in a step of its own: a turn is four checkpoints (the
input, ``__start__``, ``respond``, ``remember``) instead of five. Reading the
profile has no side effect, and a respond that is run again after a crash
reads it again. The rendered profile goes into the prompt only (the
``profile_context`` channel, where older versions kept it, is left empty).

``recall`` was that step of its own in earlier versions; it stays in the
graph (off the main path) so that a run an older version left interrupted
right before it still resumes: recall, then respond, then remember.
"""

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
    """Bring an old thread to the current schema and load the user's profile.

    Only reached by runs that an older version started (see the module doc).
    """
    updates = migration_updates(dict(state))
    store = runtime.store
    facts = read_profile(store, runtime.context.user_id) if store is not None else []
    updates["profile_context"] = render_profile(facts)
    updates["learned"] = []
    return updates


def prepare_turn(state: ChatState, runtime: Runtime[ChatContext]) -> tuple[dict[str, Any], str]:
    """What ``respond`` needs besides the model: the state updates it writes
    with the reply (the schema migration, ``learned`` cleared for this turn)
    and the profile rendered for this turn's prompt.

    The profile is read from the store every turn and is not kept in the
    state: a checkpoint stores every channel's value, so a copy of the
    profile would be repeated in each checkpoint of each thread (a copy that
    an older version left there is cleared). A channel is written only when
    its value changes: every write is a row in the database, and most turns
    change none of these.
    """
    updates = migration_updates(dict(state))
    store = runtime.store
    facts = read_profile(store, runtime.context.user_id) if store is not None else []
    if updates.get("profile_context", state.get("profile_context")):
        updates["profile_context"] = ""
    if state.get("learned"):
        updates["learned"] = []
    return updates, render_profile(facts)


def make_respond(model: BaseChatModel) -> Callable[..., dict[str, Any]]:
    def respond(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
        """Stream the model's reply; a stream without finish_reason is truncated."""
        updates, profile = prepare_turn(state, runtime)
        settings = updates.get("settings", state.get("settings")) or {}
        prompt: list[BaseMessage] = [
            SystemMessage(system_prompt(profile, settings.get("system_prompt", ""))),
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
        return {**updates, "messages": [reply]}

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
