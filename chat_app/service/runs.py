"""A reply run: the person's message saved, the reply streamed as events, the
single retry layer around the model, and the bookkeeping of a finished turn."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import tenacity

from chat_app.safe_text import clean_input, is_blank, one_line
from chat_app.service.errors import ServiceError, storage_errors
from chat_app.service.events import (
    ChatMessage,
    CheckpointInfo,
    Event,
    ProfileNotUpdated,
    ProfileUpdated,
    ReplyFailed,
    ReplyFinished,
    Retrying,
    ThreadBusy,
    ThreadChanged,
    Token,
    UserMessageSaved,
)
from chat_app.service.reading import _chat_messages
from chat_app.storage.backend import WriterLock
from graphs.context import ChatContext
from graphs.errors import ModelCallError, StreamInterrupted, classify

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.
    from langchain_core.messages import AnyMessage
    from langchain_core.runnables import RunnableConfig

    from chat_app.service.facade import ChatService


MAX_MESSAGE_CHARS = 1_000_000


# How often the streamed-so-far reply is written aside, so a crash mid-reply
# can show what had been written.
PARTIAL_SAVE_INTERVAL_S = 0.5


def _lock(svc: ChatService, thread_id: str, wait_s: float) -> WriterLock:
    lock = svc.backend.lock(thread_id)
    if not lock.acquire(wait_s):
        raise ServiceError("this thread is busy in another window; try again in a moment")
    return lock


def check_message(svc: ChatService, text: str) -> str:
    """The message as it would be sent; ServiceError if it cannot be (empty, too long)."""
    text = clean_input(text)
    if is_blank(text):
        raise ServiceError("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ServiceError(
            f"the message is too long ({len(text):,} characters; the limit is "
            f"{MAX_MESSAGE_CHARS:,})"
        )
    return text


def send(
    svc: ChatService,
    thread_id: str,
    text: str,
    *,
    from_checkpoint: str | None = None,
    message_id: str | None = None,
) -> Iterator[Event]:
    """Save the person's message, then stream the reply as events.

    ``message_id``: the id :meth:`hold` gave the message; it is the message's
    id in the thread, and the outbox row goes once the message is saved.
    """
    if message_id is not None:
        with svc._outbox_errors():
            svc.outbox.assign(message_id, thread_id)
    text = svc.check_message(text)
    svc.get_thread(thread_id)
    if from_checkpoint is not None:
        svc._check_checkpoint(thread_id, from_checkpoint)
    lock = svc.backend.lock(thread_id)
    if not lock.try_acquire():
        yield ThreadBusy(thread_id)
        if not lock.acquire(svc.settings.storage.busy_timeout_s):
            raise ServiceError("this thread is busy in another window; try again in a moment")
    with lock, svc._storage_errors():
        if from_checkpoint is None and svc._flagged_pending(thread_id):
            raise ServiceError(
                "the last reply in this thread did not finish: resume or discard it first"
            )
        # After a switch to another branch the message continues it; the
        # new checkpoints are the newest, so the choice is done (also for
        # a regenerate or an edit, which name their own starting point).
        chosen = svc.index.chosen_head(thread_id)
        if chosen is not None:
            from_checkpoint = from_checkpoint or chosen
            svc.index.choose_head(thread_id, None)
        from langchain_core.messages import HumanMessage

        msg = HumanMessage(content=text, id=message_id or str(uuid.uuid4()))
        svc.index.set_run_state(thread_id, "running")
        title = one_line(text, 60)
        svc.index.set_auto_title(thread_id, title)
        yield from svc._run(
            thread_id,
            {"messages": [msg]},
            svc._config(thread_id, from_checkpoint),
            user_message=ChatMessage(id=str(msg.id), role="user", text=text),
            held=message_id is not None,
        )


def cancel(svc: ChatService, thread_id: str) -> None:
    """Stop the reply being written in this process (keeps what was written)."""
    ev = svc._cancels.get(thread_id)
    if ev is not None:
        ev.set()


def regenerate(svc: ChatService, thread_id: str) -> Iterator[Event]:
    """Ask again: the last user message is sent again from just before it."""
    for cp in svc.branch_timeline(thread_id):
        if cp.kind == "user":
            text = svc._input_text_at(thread_id, cp.id)
            yield from svc.send(thread_id, text, from_checkpoint=cp.id)
            return
    raise ServiceError("there is no message to regenerate a reply for")


def edit_and_resend(
    svc: ChatService, thread_id: str, message_id: str, new_text: str
) -> Iterator[Event]:
    """Fork the thread at an earlier user message and send ``new_text`` instead."""
    cp = svc.checkpoint_before_message(thread_id, message_id)
    yield from svc.send(thread_id, new_text, from_checkpoint=cp)


def _backoff(svc: ChatService, attempt: int, err: ModelCallError) -> float:
    """Seconds before the next attempt: the server's Retry-After, else
    tenacity's exponential backoff with jitter, capped.

    The attempt loop itself is in ``_run``, not a tenacity decorator: it
    has to yield a Retrying event and wait cancellably between attempts.
    """
    m = svc.settings.model
    if err.retry_after is not None:
        return float(err.retry_after)
    wait = tenacity.wait_exponential_jitter(
        multiplier=m.backoff_initial_s, max=m.backoff_max_s, jitter=m.backoff_initial_s
    )
    state = cast(tenacity.RetryCallState, SimpleNamespace(attempt_number=attempt))
    return float(wait(state))


def _run(
    svc: ChatService,
    thread_id: str,
    graph_input: dict[str, Any] | None,
    config: RunnableConfig,
    *,
    user_message: ChatMessage | None,
    held: bool = False,
) -> Iterator[Event]:
    cancel = threading.Event()
    svc._cancels[thread_id] = cancel
    ctx = ChatContext(user_id=svc.user_id, cancel=cancel)
    max_attempts = svc.settings.model.max_attempts
    attempt = 1
    acked = False
    partial: list[str] = []
    learned: list[dict[str, str]] = []
    summarised = 0  # a new running summary of this many messages was written
    values: dict[str, Any] = {}
    try:
        while True:
            partial.clear()
            last_save = time.monotonic()
            # On the last attempt a failed profile extraction or summary
            # is recorded or stood in for instead of failing the turn.
            ctx.final_attempt = attempt >= max_attempts
            try:
                for mode, chunk in svc.graph.stream(
                    cast(Any, graph_input),
                    config,
                    context=ctx,
                    stream_mode=["custom", "updates", "values"],
                    durability="sync",
                ):
                    if not acked and user_message is not None:
                        # The first event comes after the input checkpoint
                        # is on disk: the message is acknowledged.
                        acked = True
                        yield svc._saved(thread_id, user_message, held)
                        yield ThreadChanged(svc.get_thread(thread_id))
                    if mode == "custom" and isinstance(chunk, dict) and "token" in chunk:
                        partial.append(chunk["token"])
                        yield Token(thread_id, chunk["token"])
                        now = time.monotonic()
                        if now - last_save >= PARTIAL_SAVE_INTERVAL_S:
                            svc.index.save_partial(thread_id, "".join(partial))
                            last_save = now
                    elif mode == "values" and isinstance(chunk, dict):
                        values = chunk
                    elif mode == "updates" and isinstance(chunk, dict):
                        wrote = chunk.get("respond")
                        if isinstance(wrote, dict) and wrote.get("history_summary"):
                            summarised = int(wrote["history_summary"].get("covers", 0))
                        upd = chunk.get("remember")
                        if isinstance(upd, dict) and upd.get("learned"):
                            learned = list(upd["learned"])
                            svc.changes.publish("profile")
                            yield ProfileUpdated(svc.profile())
                        if isinstance(upd, dict) and upd.get("profile_error"):
                            yield ProfileNotUpdated(thread_id, str(upd["profile_error"]))
                break
            except Exception as exc:
                if isinstance(exc, storage_errors()):
                    yield from svc._storage_failed(
                        thread_id, exc, user_message, acked, partial, held
                    )
                    return
                err = classify(exc)
                if not acked and user_message is not None and svc._pending(thread_id):
                    acked = True
                    yield svc._saved(thread_id, user_message, held)
                text_so_far = "".join(partial)
                if text_so_far:
                    svc.index.save_partial(thread_id, text_so_far)
                if cancel.is_set():
                    yield from svc._stop_pending(thread_id, text_so_far)
                    return
                graph_input = None
                config = svc._config(thread_id)
                too_long = (
                    err.retry_after is not None
                    and err.retry_after > svc.settings.model.max_retry_after_s
                )
                if not err.transient or attempt >= max_attempts or too_long:
                    reason = err.user_message
                    if too_long:
                        reason = (
                            f"rate limited: the server asks to wait {err.retry_after:.0f} s;"
                            " try again later"
                        )
                    elif err.transient:
                        reason = f"{reason} (gave up after {attempt} attempts)"
                    can_retry = svc._pending(thread_id)
                    if can_retry:
                        svc._index_interrupted(thread_id)
                    yield ReplyFailed(thread_id, reason, can_retry=can_retry, partial=text_so_far)
                    return
                delay = svc._backoff(attempt, err)
                attempt += 1
                reason = err.user_message
                if isinstance(err, StreamInterrupted):
                    reason = "the reply stream was interrupted"
                yield Retrying(thread_id, attempt, max_attempts, delay, reason)
                if svc._wait(delay, cancel):
                    yield from svc._stop_pending(thread_id, text_so_far)
                    return
        yield from svc._finish(thread_id, learned, values, summarised)
    finally:
        svc._cancels.pop(thread_id, None)


def _storage_failed(
    svc: ChatService,
    thread_id: str,
    exc: Exception,
    user_message: ChatMessage | None,
    acked: bool,
    partial: list[str],
    held: bool,
) -> Iterator[Event]:
    """The reply could not be saved: say why; what is on disk stays there."""
    pending = False
    with contextlib.suppress(*storage_errors()):
        pending = svc._pending(thread_id)
    if not acked and user_message is not None and pending:
        with contextlib.suppress(*storage_errors()):
            yield svc._saved(thread_id, user_message, held)
    text_so_far = "".join(partial)
    if text_so_far:
        with contextlib.suppress(*storage_errors()):
            svc.index.save_partial(thread_id, text_so_far)
    yield ReplyFailed(thread_id, svc._storage_message(exc), can_retry=pending, partial=text_so_far)


def _saved(svc: ChatService, thread_id: str, message: ChatMessage, held: bool) -> UserMessageSaved:
    """The message's input checkpoint is on disk: the outbox lets it go."""
    if held:
        svc.outbox.remove(message.id)
    return UserMessageSaved(thread_id, message)


def _wait(svc: ChatService, delay: float, cancel: threading.Event) -> bool:
    """Sleep ``delay`` unless cancelled; True when cancelled."""
    if svc._sleep is not time.sleep:
        svc._sleep(delay)
        return cancel.is_set()
    return cancel.wait(delay)


def _stop_pending(svc: ChatService, thread_id: str, text: str) -> Iterator[Event]:
    """The person stopped while no reply was being streamed: keep what was written."""
    from langchain_core.messages import AIMessage

    reply = AIMessage(
        content=text,
        id=str(uuid.uuid4()),
        additional_kwargs={"status": "stopped"},
        response_metadata={"finish_reason": "stopped"},
    )
    svc.graph.update_state(svc._config(thread_id), {"messages": [reply]}, as_node="respond")
    ctx = ChatContext(user_id=svc.user_id)
    values = svc.graph.invoke(None, svc._config(thread_id), context=ctx, durability="sync")
    yield from svc._finish(thread_id, [], values)


def _finish(
    svc: ChatService,
    thread_id: str,
    learned: list[dict[str, str]],
    values: dict[str, Any],
    summarised: int = 0,
) -> Iterator[Event]:
    """The run is complete: index it and announce the reply."""
    raw: list[AnyMessage] = list(values.get("messages") or [])
    if not raw:
        raw = list(svc._state_values(thread_id).get("messages", []))
    # Only the tail is converted: the rest is already indexed.
    tail = _chat_messages(raw[-2:])
    usage = getattr(raw[-1], "usage_metadata", None) if raw else None
    tokens = (
        (int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
        if isinstance(usage, dict)
        else None
    )
    svc._finish_bookkeeping(
        thread_id,
        learned,
        tail,
        len(raw),
        check_pending=False,
        tokens=tokens,
        summarised=summarised,
    )
    if tail and tail[-1].role == "assistant":
        yield ReplyFinished(thread_id, tail[-1])
    yield ThreadChanged(svc.get_thread(thread_id))


def _finish_bookkeeping(
    svc: ChatService,
    thread_id: str,
    learned: list[dict[str, str]],
    msgs: list[ChatMessage] | None = None,
    count: int | None = None,
    *,
    check_pending: bool = True,
    tokens: tuple[int, int] | None = None,
    summarised: int = 0,
) -> None:
    """Index the finished turn: counts, search text, timeline notes, and the
    reply's ``tokens`` (request, reply) on its checkpoint."""
    if msgs is None:
        msgs = _chat_messages(svc._state_values(thread_id).get("messages", []))
    notes: list[tuple[str, str, str, bool]] = []
    usage: tuple[str, int, int] | None = None
    # The turn's own checkpoints are the newest few.
    cps = svc.index.checkpoints(thread_id, newest=16)
    if cps and not (check_pending and svc._pending(thread_id)):
        by_id = {c.id: c for c in cps}
        head = cps[-1]
        last_ai = next((m for m in reversed(msgs) if m.role == "assistant"), None)
        if last_ai is not None and not head.kind:
            summary = "assistant: " + one_line(last_ai.text, 70)
            notes.append((head.id, "assistant", summary, bool(learned)))
            if tokens is not None:
                usage = (head.id, *tokens)
        step = by_id.get(head.parent_id or "")
        if summarised and step is not None and not step.kind:
            # The step that wrote a new running summary: an entry in History.
            text = f"summary: the first {summarised} messages, as the model now sees them"
            notes.append((step.id, "summary", text, False))
        cur: CheckpointInfo | None = head
        while cur is not None and not (cur.source == "input" and cur.kind):
            if cur.source == "input":
                text = svc._input_text_at(thread_id, cur.id)
                if text:
                    notes.append((cur.id, "user", "you: " + one_line(text, 70), False))
                break
            cur = by_id.get(cur.parent_id or "")
    recent = msgs[-2:]
    svc.index.record_turn(
        thread_id,
        len(msgs) if count is None else count,
        [(m.id, m.role, m.text) for m in recent if m.id],
        notes,
        usage,
    )
