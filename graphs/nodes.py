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
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graphs.budget import ContextBudget
from graphs.context import ChatContext
from graphs.errors import (
    EmptyReply,
    ModelCallError,
    StreamInterrupted,
    TransientModelError,
    classify,
)
from graphs.extract import Statement, may_be_about_the_user
from graphs.history import Summarizer, clip, extractive_summary, plan_request
from graphs.profile import apply_statements, read_profile, render_profile
from graphs.prompts import system_prompt
from graphs.state import ChatState, migration_updates
from graphs.streaming import stream_cancellable

# What the person said in one message about themself. Raises ModelCallError
# when it cannot tell (the model failed or gave no usable answer).
Extractor = Callable[[str], list[Statement]]
# Messages whose extraction failed, kept for the next turn: a bound, so a
# long outage does not make every later turn pay for all of them.
MAX_PENDING = 10


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


def make_respond(
    model: BaseChatModel, budget: ContextBudget, summarizer: Summarizer = extractive_summary
) -> Callable[..., dict[str, Any]]:
    # Summaries written in this process, by what they took in: an attempt
    # after a failed reply does not ask the model for the same summary again.
    written: dict[tuple[str, int, str], tuple[str, str]] = {}

    def summarize(
        previous: str, dropped: Sequence[BaseMessage], max_tokens: int, final: bool
    ) -> tuple[str, str]:
        key = (previous, len(dropped), str(dropped[-1].id) if dropped else "")
        if key in written:
            return written[key]
        try:
            out = summarizer(previous, dropped, max_tokens)
        except ModelCallError as err:
            if err.transient and not final:
                raise
            # The reply matters more than the summary's style: an extractive
            # one stands in (labelled), and the next rewrite uses the model.
            out = extractive_summary(previous, dropped, max_tokens)
        if len(written) >= 8:
            written.pop(next(iter(written)))
        written[key] = out
        return out

    def respond(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
        """Stream the model's reply; a stream without finish_reason is truncated."""
        updates, profile = prepare_turn(state, runtime)
        settings = updates.get("settings", state.get("settings")) or {}
        extra = settings.get("system_prompt", "")
        # A profile (or a thread's own prompt) may not crowd out the conversation.
        profile, extra = clip(profile, budget.prompt // 4), clip(extra, budget.prompt // 4)
        final = runtime.context.final_attempt
        request = plan_request(
            state.get("messages", []),
            state.get("history_summary"),
            budget,
            lambda block: system_prompt(profile, extra, block),
            lambda previous, dropped, limit: summarize(previous, dropped, limit, final),
        )
        if request.new_summary is not None:
            updates["history_summary"] = dict(request.new_summary)
        prompt: list[BaseMessage] = request.messages
        writer = runtime.stream_writer
        cancel = runtime.context.cancel
        parts: list[str] = []
        finish: str | None = None
        msg_id: str | None = None
        stopped = False
        usage: dict[str, int] | None = None

        def on_chunk(chunk: AIMessageChunk) -> None:
            nonlocal finish, msg_id, usage
            if chunk.usage_metadata:
                usage = {k: int(v) for k, v in chunk.usage_metadata.items() if isinstance(v, int)}
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
        if not stopped and not "".join(parts).strip():
            # A blank reply is a fault of the server, never a message to keep.
            raise EmptyReply()
        kwargs: dict[str, Any] = {"status": "stopped"} if stopped else {}
        text = "".join(parts)
        reply = AIMessage(
            content=text,
            id=msg_id or str(uuid.uuid4()),
            response_metadata={"finish_reason": "stopped" if stopped else finish},
            additional_kwargs=kwargs,
            usage_metadata=reply_usage(usage, prompt, text),
        )
        return {**updates, "messages": [reply]}

    return respond


def reply_usage(reported: dict[str, int] | None, prompt: Sequence[BaseMessage], text: str) -> Any:
    """Tokens of the request and of the reply: as the server counted them, or
    (a server that does not say, the offline model) estimated the way the
    context budget counts."""
    from langchain_core.messages.utils import count_tokens_approximately

    if reported and reported.get("input_tokens") is not None:
        tokens_in = int(reported.get("input_tokens", 0))
        tokens_out = int(reported.get("output_tokens", 0))
    else:
        tokens_in = count_tokens_approximately(list(prompt))
        tokens_out = count_tokens_approximately([AIMessage(content=text)]) if text else 0
    return {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }


def _user_messages(messages: Sequence[AnyMessage], ids: list[str]) -> list[HumanMessage]:
    """The person's messages with these ids, in order (searched from the newest)."""
    wanted = set(ids)
    found: dict[str, HumanMessage] = {}
    for m in reversed(messages):
        if not wanted:
            break
        if isinstance(m, HumanMessage) and m.id in wanted:
            found[str(m.id)] = m
            wanted.discard(str(m.id))
    return [found[i] for i in ids if i in found]


def make_remember(extractor: Extractor, learned_by: str) -> Callable[..., dict[str, Any]]:
    def remember(
        state: ChatState, config: RunnableConfig, runtime: Runtime[ChatContext]
    ) -> dict[str, Any]:
        """Write what the person said about themself to the profile (idempotent).

        The last message, and any whose extraction failed before, are read
        unless they cannot be about the person (a cheap test, so most turns
        make no extraction request). A transient failure is raised while the
        retry layer will try again; after that the turn completes without
        the profile update, the reason is kept in ``profile_error`` and the
        message ids in ``profile_pending`` for the next turn.
        """
        messages = state.get("messages", [])
        last_user = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        store = runtime.store
        if last_user is None or store is None:
            return {"learned": []}
        pending = list(state.get("profile_pending") or [])
        ids = [i for i in pending if i != last_user.id] + [str(last_user.id)]
        targets = [m for m in _user_messages(messages, ids) if may_be_about_the_user(m.text)]
        thread_id = str(config.get("configurable", {}).get("thread_id", ""))
        learned: list[dict[str, str]] = []
        failed: list[str] = []
        reason = ""
        for n, message in enumerate(targets):
            try:
                statements = extractor(message.text)
            except ModelCallError as err:
                if err.transient and not runtime.context.final_attempt:
                    # Said so: the reply is already saved, only this is retried.
                    raise TransientModelError(
                        f"profile extraction: {err.user_message}",
                        retry_after=err.retry_after,
                        status=err.status,
                    ) from err
                failed = [str(m.id) for m in targets[n:]][-MAX_PENDING:]
                reason = err.user_message
                break
            changed = apply_statements(
                store,
                runtime.context.user_id,
                statements,
                thread_id=thread_id,
                message_id=str(message.id or ""),
                source_text=message.text,
                learned_by=learned_by,
            )
            learned += [{"key": f.key, "kind": f.kind, "value": f.value} for f in changed]
        updates: dict[str, Any] = {"learned": learned}
        if failed != pending:
            updates["profile_pending"] = failed
        if reason != (state.get("profile_error") or ""):
            updates["profile_error"] = reason
        return updates

    return remember
