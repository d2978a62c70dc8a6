"""The history area: the history pane's timeline of the open thread, previewing
an earlier point, rewinding to it, switching branches and going back to the
latest; and the token usage the status line shows from that history."""

from __future__ import annotations

from functools import partial
from typing import Any

from chat_app.service.events import ChatMessage, History
from chat_app.ui.areas.base import ChatAppBase

# Checkpoints read for the history pane when a thread opens (~2.5 per turn);
# earlier ones are read when the person asks for them.
HISTORY_WINDOW = 600
PREVIEW_NOTICE = "Preview of an earlier point — Enter in History to rewind, Esc to go back"


def usage_line(history: History, context_window: int) -> str:
    """Tokens the thread's replies used, and how full the newest request was:
    "12.3k tokens · context 5.1k of 8k" ("" before any reply says)."""
    total = 0
    newest: int | None = None
    for cp in history.checkpoints:
        if cp.input_tokens is not None:
            total += cp.input_tokens + (cp.output_tokens or 0)
            if cp.id in history.branch_ids:
                newest = cp.input_tokens
    if newest is None:
        return ""
    # Only the newest checkpoints are read for a long thread: at least this many.
    at_least = "" if history.complete else "≥"
    return f"{at_least}{_k(total)} tokens · context {_k(newest)} of {_k(context_window)}"


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k".replace(".0k", "k") if n >= 1000 else str(n)


class HistoryArea(ChatAppBase):
    """The history pane, previews, rewinds and branches."""

    def load_history(self, thread_id: str, *, complete: bool = False) -> None:
        """Load the history pane in its own worker, after the chat is on screen.

        Only the newest checkpoints are read unless ``complete`` (the person
        asked for earlier entries, or the pane already shows them all).
        """
        newest = self._history_window(thread_id, complete=complete)
        self.call_service(
            lambda: self.service.history(thread_id, newest=newest),
            self._history_if_current,
            group="history",
            exclusive=True,
        )

    def _history_window(self, thread_id: str, *, complete: bool = False) -> int | None:
        """How many of the newest checkpoints the history pane reads (None: all)."""
        pane = self._panel("history-pane")
        shown = self.history
        if (
            shown is not None
            and shown.thread_id == thread_id
            and shown.complete
            and getattr(pane, "wants_all", False)
        ):
            complete = True
        return None if complete else HISTORY_WINDOW

    def on_history_pane_earlier_requested(self, event: Any) -> None:
        if self._for_current(event) and self.current_id is not None:
            self.load_history(self.current_id, complete=True)

    def _set_history(self, history: History) -> None:
        self.history = history
        self.status.usage = usage_line(history, self.service.context_window)
        pane = self._panel("history-pane")
        if pane is not None:
            pane.history = history  # type: ignore[attr-defined]

    def _history_if_current(self, history: History) -> None:
        if history.thread_id == self.current_id:
            self._set_history(history)

    def _enter_preview_ui(self, checkpoint_id: str) -> None:
        self.preview_id = checkpoint_id
        self.main_screen.query_one("#preview-notice").display = True
        self.status.state = "preview"

    def _leave_preview_ui(self) -> None:
        if self.preview_id is not None:
            self.preview_id = None
            self.main_screen.query_one("#preview-notice").display = False
            self.status.state = "idle"

    def preview_checkpoint(self, checkpoint_id: str) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return

        def shown(messages: list[ChatMessage]) -> None:
            if tid == self.current_id:
                self._enter_preview_ui(checkpoint_id)
                self.chat.show_messages(messages, read_only=True)

        self.call_service(
            lambda: self.service.load_messages(tid, checkpoint_id),
            shown,
            group="load",
            exclusive=True,
        )

    def rewind_to(self, checkpoint_id: str) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return
        newest = self._history_window(tid)

        def rewind() -> tuple[list[ChatMessage], History]:
            # One worker for both: the chat and the timeline change in one frame.
            messages = self.service.rewind(tid, checkpoint_id)
            return messages, self.service.history(tid, newest=newest)

        def rewound(result: tuple[list[ChatMessage], History]) -> None:
            messages, history = result
            self.notify("Rewound: the next message continues from here on a new branch.")
            self._show_head(tid, messages, history)
            self.chat_input.focus()

        self.call_service(rewind, rewound)

    def _show_head(
        self, thread_id: str, messages: list[ChatMessage], history: History | None = None
    ) -> None:
        """Show the messages a rewind returned, and its history (read in its own
        worker when not given).

        Rendered messages are reused (MessageLines caches them per message).
        """
        if thread_id != self.current_id:
            return
        self._leave_preview_ui()
        self.chat.show_messages(messages)
        if history is None:
            self.load_history(thread_id)
        else:
            self._history_if_current(history)
        if self.reply_thread is None and thread_id not in self.pending:
            self.status.state = "idle"

    def back_to_latest(self) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return

        self.call_service(lambda: self.service.back_to_latest(tid), partial(self._show_head, tid))

    def _for_current(self, event: Any) -> bool:
        # The pane may name the thread its history belonged to; ignore stale ones.
        thread_id = getattr(event, "thread_id", "")
        return not thread_id or thread_id == self.current_id

    def _history_focused(self) -> bool:
        pane = self._panel("history-pane")
        focused = self.focused
        return pane is not None and focused is not None and pane in focused.ancestors_with_self

    def on_history_pane_checkpoint_previewed(self, event: Any) -> None:
        # A highlight that moved because the history was reloaded is not a request.
        if self._for_current(event) and self._history_focused():
            self.preview_checkpoint(event.checkpoint_id)

    def on_history_pane_rewind_requested(self, event: Any) -> None:
        if self._for_current(event):
            self.rewind_to(event.checkpoint_id)

    def on_history_pane_back_to_latest_requested(self, event: Any) -> None:
        self.back_to_latest()

    def on_history_pane_branch_chosen(self, event: Any) -> None:
        tid, checkpoint_id = self.current_id, event.checkpoint_id
        if self._for_current(event) and tid is not None and self.reply_thread is None:
            self.call_service(
                lambda: self.service.show_branch(tid, checkpoint_id), partial(self._show_head, tid)
            )
