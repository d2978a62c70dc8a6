"""The reply area: sending a message (held in the outbox until it is saved),
streaming the reply into the chat, and what the service says meanwhile
(retries, failures, the profile).

Tokens are buffered by the reply worker and drawn at most once per tick; the
worker never waits on the UI per token.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, cast

from textual import on, work
from textual.message import Message

from chat_app.safe_text import is_blank, one_line
from chat_app.service import PendingRun, ServiceError
from chat_app.service.events import (
    ChatMessage,
    Event,
    ProfileNotUpdated,
    ProfileUpdated,
    ReplyFailed,
    ReplyFinished,
    Retrying,
    SummaryMark,
    ThreadBusy,
    ThreadChanged,
    ThreadInfo,
    Token,
    UserMessageSaved,
)
from chat_app.ui.areas.base import ChatAppBase, Held, error_text
from chat_app.ui.screens.text_prompt import TextPromptScreen
from chat_app.ui.widgets.failure_notice import FailureNotice
from chat_app.ui.widgets.message_box import MessageBox
from chat_app.ui.widgets.message_lines import MessageLines

# Collections of the middle generation between two full collections while a
# reply streams (the default is 10): in effect, none until it ends; then one,
# this long after it.
FULL_GC_WHILE_STREAMING = 1_000_000
FULL_GC_AFTER_REPLY_S = 2.0

# Buffered tokens are shown at most this often (about two frames).
TOKEN_TICK_S = 0.03


class FlushTokens(Message):
    """Posted by the reply worker (thread-safe) when tokens are waiting."""


class ReplyArea(ChatAppBase):
    """Sending, the reply stream, regenerating and editing."""

    @on(MessageBox.Submitted, "#chat-input")
    def _submitted(self, event: MessageBox.Submitted) -> None:
        event.stop()
        self.send(event.value)

    def send(self, text: str) -> None:
        if is_blank(text):
            return
        if self.preview_id is not None:
            self.notify("This is a preview: rewind in History first, or Esc to go back.")
            return
        if self.reply_thread is not None:
            self.notify("A reply is still being written; Esc stops it.", severity="warning")
            return
        if self.current_id is not None and self.current_id in self.pending:
            self.notify("Resume or discard the unfinished reply first.", severity="warning")
            return
        waiting = not self._started_up or self._creating is not None
        if waiting and (self._held_for_start or self._send_when_created):
            return  # one message waits at a time; this one stays in the box
        # The text leaves the box only once it is durable (the outbox): a crash
        # from here on leaves it in its thread or gives it back as a draft.
        try:
            held = Held(self.service.hold(None if waiting else self.current_id, text), text)
        except ServiceError as exc:
            self.notify(f"Not sent: {exc}", severity="error", markup=False)
            return
        self.chat_input.value = ""
        if not self._started_up:
            # The first thread is not shown yet: the message is for that one.
            self._held_for_start = held
            self.status.state = "sending…"
        elif self._creating is not None:
            self._send_when_created = held
        else:
            if self.current_id is not None:
                self._keep_draft(self.current_id, "")
            self._send_held(held)

    def _send_held(self, held: Held) -> None:
        """Send to the open thread, or to a new one when there is none."""
        if self.current_id is None:
            self.call_service(self.service.create_thread, partial(self._created_then_send, held))
        elif self.current_id in self.pending:
            self._give_back(held, "the last reply did not finish; resume or discard it first")
        else:
            self._begin_send(self.current_id, held)

    def _created_then_send(self, held: Held, info: ThreadInfo) -> None:
        self.current_id = info.id
        self.sidebar.current_id = info.id
        self._set_current_info(info)
        self.chat.show_messages([])
        self.poll_threads()
        self._begin_send(info.id, held)

    def _begin_send(self, thread_id: str, held: Held) -> None:
        # The person's message shows at once, marked "sending" until the
        # service says its input checkpoint is on disk.
        self.chat.append_message(ChatMessage(id="", role="user", text=held.text, status="sending"))
        self._unsent = (thread_id, held)
        self.start_reply(
            thread_id,
            lambda: self.service.send(thread_id, held.text, message_id=held.message_id),
        )
        self.status.state = "sending…"

    def start_reply(self, thread_id: str, events: Callable[[], Iterator[Event]]) -> None:
        # A full collection walks every object made since start-up (the open
        # thread's messages and their drawing): 25-30 ms with 1,000 messages,
        # a stall in the middle of a streaming reply. Young objects are still
        # collected while it streams; full collections wait for its end.
        young, middle, _ = self._gc_threshold
        gc.set_threshold(young, middle, FULL_GC_WHILE_STREAMING)
        self.reply_thread = thread_id
        self.status.state = "streaming"
        self.chat.hide_failure()
        self._run_reply(thread_id, events)

    @work(thread=True, exclusive=True, group="reply", exit_on_error=False)
    def _run_reply(self, thread_id: str, events: Callable[[], Iterator[Event]]) -> None:
        # Tokens go into a buffer the UI drains once per tick: the worker never
        # waits on the UI per token. Other events (rare) wait their turn after
        # the tokens before them.
        try:
            for event in events():
                if isinstance(event, Token):
                    self._buffer_token(event)
                else:
                    self.call_from_thread(
                        cast(Callable[..., Any], self._on_event_after_tokens), event
                    )
        except Exception as exc:
            self.call_from_thread(cast(Callable[..., Any], self._reply_error), thread_id, exc)
        finally:
            self.call_from_thread(cast(Callable[..., Any], self._reply_done), thread_id)

    def _buffer_token(self, token: Token) -> None:
        """Worker side: queue a token; ask the UI for a flush if none is due."""
        with self._token_lock:
            self._tokens.append(token)
            if self._flush_due:
                return
            self._flush_due = True
        self.post_message(FlushTokens())

    def on_flush_tokens(self, _: FlushTokens) -> None:
        # At most one flush per tick: tokens arriving meanwhile join the next one.
        wait = self._last_flush + TOKEN_TICK_S - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._flush_tokens)
        else:
            self.call_next(self._flush_tokens)

    async def _flush_tokens(self) -> int:
        """UI side: show every buffered token (joined per thread); how many there were."""
        with self._token_lock:
            tokens, self._tokens = self._tokens, []
            self._flush_due = False
        self._last_flush = time.monotonic()
        i = 0
        while i < len(tokens):
            tid = tokens[i].thread_id
            j = i
            while j < len(tokens) and tokens[j].thread_id == tid:
                j += 1
            await self._on_event(Token(tid, "".join(t.text for t in tokens[i:j])))
            i = j
        return len(tokens)

    async def _on_event_after_tokens(self, event: Event) -> None:
        await self._flush_tokens()
        await self._on_event(event)

    async def _on_event(self, event: Event) -> None:
        current = getattr(event, "thread_id", None) == self.current_id
        if isinstance(event, Token):
            self._retry = None
            if current and self.preview_id is None:
                if self.status.state != "streaming":
                    self.status.state = "streaming"
                await self.chat.write_tokens(event.text)
        elif isinstance(event, UserMessageSaved):
            self._unsent = None
            if current and self.status.state.startswith("sending"):
                self.status.state = "streaming"
            if current and self.preview_id is None:
                # The message shown at once gets its id (edit, select, search).
                self.chat.lines.acknowledge(event.message)
        elif isinstance(event, Retrying):
            self._retry = (
                event.attempt,
                event.max_attempts,
                time.monotonic() + event.delay_s,
                one_line(event.reason, 60),
            )
            if current and self.preview_id is None:
                # The retry writes the reply again from its start: what the
                # failed attempt streamed is replaced, never repeated.
                await self.chat.discard_partial()
            self._tick_retry()
        elif isinstance(event, ThreadBusy):
            if current:
                self.status.state = "waiting for another window…"
        elif isinstance(event, ReplyFinished):
            self._retry = None
            self.pending.pop(event.thread_id, None)
            if current and self.preview_id is None:
                await self.chat.finish_reply(event.message)
                self.status.state = "stopped" if event.message.status == "stopped" else "idle"
                self._reply_shown = event.thread_id
                self._mark_summary(event.thread_id)
        elif isinstance(event, ReplyFailed):
            self._retry = None
            if event.can_retry:
                self.pending[event.thread_id] = PendingRun(event.thread_id, "", "", event.partial)
            if current:
                await self.chat.stop_stream()
                self.chat.show_failure(event.reason, event.can_retry)
                self.status.state = "failed"
        elif isinstance(event, ProfileUpdated):
            self._set_facts(list(event.facts))
        elif isinstance(event, ProfileNotUpdated):
            self.notify(
                f"Profile not updated: {one_line(event.reason, 120)}. It is tried again with"
                " your next message.",
                severity="warning",
                markup=False,
            )
        elif isinstance(event, ThreadChanged) and current:
            self._set_current_info(event.thread)

    def _mark_summary(self, thread_id: str) -> None:
        """The turn may have summarised more of the thread: move the chat's mark."""

        def marked(mark: SummaryMark | None) -> None:
            if thread_id == self.current_id and self.preview_id is None:
                self.chat.lines.set_summary_mark(mark)

        self.call_service(lambda: self.service.summary_mark(thread_id), marked, group="summary")

    async def _reply_error(self, thread_id: str, exc: Exception) -> None:
        await self._flush_tokens()
        self.notify(error_text(exc), severity="error", markup=False)
        if thread_id == self.current_id:
            self.status.state = "idle"

    async def _reply_done(self, thread_id: str) -> None:
        await self._flush_tokens()
        self.set_timer(FULL_GC_AFTER_REPLY_S, self._collect_after_reply)
        self.reply_thread = None
        self.refresh_bindings()  # Esc has nothing to stop now
        self._retry = None
        if self._unsent is not None and self._unsent[0] == thread_id:
            # The message never reached storage: the text goes back in the box.
            held = self._unsent[1]
            self._unsent = None
            if thread_id == self.current_id:
                self._give_back(held)
        shown, self._reply_shown = self._reply_shown, None
        if self._after_resume is not None:
            # Sent once the resumed thread is shown as it now is.
            self._send_after_load, self._after_resume = self._after_resume, None
            self.reload_thread()
        if thread_id == self.current_id:
            await self.chat.stop_stream()
            if self.status.state.startswith(("streaming", "retrying", "waiting")):
                self.status.state = "idle"
            failed = self.chat.query_one(FailureNotice).display
            if not failed and not (shown == thread_id and self.chat.lines.all_saved):
                # Something unusual (a resume, nothing finished): read it all again.
                self.reload_thread()
            else:
                # The chat already shows the finished reply: only the history moves.
                self.load_history(thread_id)
        self.poll_threads()

    def _collect_after_reply(self) -> None:
        """The full collection held back while a reply streamed, once the screen
        is still (at the reply's end it would stall the last frames)."""
        if self.reply_thread is None:
            gc.set_threshold(*self._gc_threshold)
            gc.collect()

    def _tick_retry(self) -> None:
        if self._retry is None:
            if self.status.state.startswith("retrying"):
                self.status.state = "streaming"
            return
        attempt, max_attempts, deadline, why = self._retry
        left = max(0, round(deadline - time.monotonic()))
        self.status.state = f"retrying {attempt}/{max_attempts} in {left} s: {why}"

    def action_regenerate(self) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None or self.preview_id is not None:
            return
        if tid in self.pending:
            # The last message has no reply yet: write it, rather than fork.
            self.action_resume_reply()
            return
        messages = self.chat.lines.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
        if last_user is None:
            self.notify("There is no message to regenerate a reply for.")
            return
        self.chat.show_messages(messages[: last_user + 1])
        self.start_reply(tid, lambda: self.service.regenerate(tid))

    @on(MessageBox.RecallRequested)
    def _recall_last_message(self) -> None:
        """↑ in the empty box: select the person's last message (e edits and
        resends it, Esc comes back)."""
        lines = self.chat.lines
        mine = [m for m in lines.messages if m.role == "user" and m.id]
        if not mine:
            return
        lines.focus()
        lines.select_message(mine[-1].id)

    @on(MessageLines.EditRequested)
    def _edit_requested(self, event: MessageLines.EditRequested) -> None:
        message = event.message
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return

        def edited(text: str | None) -> None:
            if text is None or is_blank(text):
                return
            messages = self.chat.lines.messages
            index = next((i for i, m in enumerate(messages) if m.id == message.id), None)
            if index is not None:
                shown = [*messages[:index], ChatMessage(id="", role="user", text=text)]
                self.chat.show_messages(shown)
            self.start_reply(tid, lambda: self.service.edit_and_resend(tid, message.id, text))

        self.push_screen(
            TextPromptScreen(
                "Edit and resend (the thread forks here; ctrl+j: new line)",
                message.text,
                multiline=True,
            ),
            edited,
        )
