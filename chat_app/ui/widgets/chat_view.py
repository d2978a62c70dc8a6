"""The conversation: messages and the reply being written (line API), a failure note.

Tokens reach the view in batches (the app flushes them once per tick); the
reply being written is drawn by ``MessageLines`` after the messages, and only
its last block is rendered again per batch. When the reply finishes it takes
its place among the messages.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.widgets import Static

from chat_app.safe_text import to_display
from chat_app.service.events import ChatMessage, SummaryMark
from chat_app.ui.widgets.failure_notice import FailureNotice
from chat_app.ui.widgets.message_lines import MessageLines
from chat_app.ui.widgets.steady_scroll import draw_scrollbars_now

# What an empty thread shows: how to start, and where every key is listed.
EMPTY_HINT = (
    "Type a message below and press Enter (ctrl+j: a new line).\n"
    "ctrl+n: a new thread · F3: History, to rewind · F4: what I know about you"
    " · F1: every key"
)


class ChatView(VerticalScroll):
    """Parents call the methods below; it never calls the service."""

    # Home and End go to the start and the end of the thread, not of the
    # messages rendered so far (which are a window of a long thread).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "thread_start", "Start of the thread", show=False),
        Binding("end", "thread_end", "End of the thread", show=False),
    ]

    # Load older messages when the view comes this close to the top (at least;
    # a screen ahead when scrolling, so a page up does not wait at the edge).
    NEAR_TOP = 3

    class NearTop(Message):
        """Sent when the person scrolled up to the oldest rendered message."""

    class NearBottom(Message):
        """Sent when the person scrolled down to the newest rendered message
        while newer ones are not rendered yet (after Home)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._streaming = False
        self.reply_text = ""

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # As in MessageLines: the layout calling this has arranged the
        # messages already; its scrollbars are updated here either way.
        changed = super()._size_updated(size, virtual_size, container_size, layout=False)
        draw_scrollbars_now(self)
        return changed

    def compose(self) -> ComposeResult:
        yield Static(EMPTY_HINT, id="chat-empty", markup=False)
        yield MessageLines(id="message-lines")
        yield FailureNotice(id="failure-notice")

    def on_mount(self) -> None:
        self.query_one(FailureNotice).display = False
        self.query_one("#chat-empty").display = False  # until an empty thread shows

    def _show_hint(self, shown: bool) -> None:
        hint = self.query_one("#chat-empty", Static)
        if hint.display != shown:
            hint.display = shown

    @property
    def lines(self) -> MessageLines:
        return self.query_one(MessageLines)

    @property
    def streaming(self) -> bool:
        return self._streaming

    def show_messages(
        self,
        messages: list[ChatMessage],
        *,
        read_only: bool = False,
        summary: SummaryMark | None = None,
    ) -> None:
        """``summary``: where the model's running summary of the thread ends."""
        self.query_one(FailureNotice).hide()
        self.lines.summary_mark = summary
        self.lines.set_messages(messages, read_only=read_only)
        self._show_hint(not messages and not read_only)
        self.anchor()

    def append_message(self, message: ChatMessage) -> None:
        if message.role == "user":
            # The person's own message: they see it, wherever they were reading.
            self.lines.show_end()
        self._show_hint(False)
        self.lines.append(message)
        if not self.lines.has_newer:
            self.anchor()

    async def start_reply(self) -> None:
        self.lines.show_end()
        self._show_hint(False)
        self.query_one(FailureNotice).hide()
        self.reply_text = ""
        self._streaming = True
        self.lines.set_live("")
        self.anchor()

    async def write_tokens(self, text: str) -> None:
        """Show a batch of tokens (called once per tick, not per token)."""
        if not self._streaming:
            await self.start_reply()
        # Every token is untrusted: control characters made visible first.
        self.reply_text += to_display(text)
        self.lines.set_live(self.reply_text)

    async def discard_partial(self) -> None:
        """The reply starts again (a retry): what streamed so far goes."""
        self.reply_text = ""
        if self._streaming:
            self.lines.set_live("")

    async def stop_stream(self) -> None:
        """No more tokens: what was written stays on screen (e.g. above a failure)."""
        self._streaming = False

    async def finish_reply(self, message: ChatMessage | None) -> None:
        """Put the finished reply among the messages (or just clear it)."""
        await self.stop_stream()
        self.lines.clear_live()
        self.reply_text = ""
        if message is not None:
            self.append_message(message)

    def show_failure(self, reason: str, can_retry: bool) -> None:
        self.query_one(FailureNotice).show(reason, can_retry)
        self.anchor()

    def hide_failure(self) -> None:
        self.query_one(FailureNotice).hide()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        ahead = max(self.NEAR_TOP, self.size.height)
        if new <= ahead and new < old and self.lines.has_older:
            self.post_message(self.NearTop())
        elif new >= self.max_scroll_y - ahead and new > old and self.lines.has_newer:
            self.post_message(self.NearBottom())

    def on_chat_view_near_bottom(self, event: NearBottom) -> None:
        event.stop()
        # Newer lines go below what is on screen: nothing moves.
        self.lines.load_newer()

    def action_thread_start(self) -> None:
        self.release_anchor()
        self.lines.show_start()
        self.call_after_refresh(self.scroll_home, animate=False, immediate=True)

    def action_thread_end(self) -> None:
        self.lines.show_end()
        self.call_after_refresh(self.anchor)

    def load_older(self) -> None:
        """Render a batch of older messages, keeping what is on screen in place."""
        added = self.lines.load_older()
        if added:
            target = self.scroll_y + added
            self.call_after_refresh(self.scroll_to, y=target, animate=False, immediate=True)

    def scroll_to_line(self, line: int) -> None:
        self.release_anchor()
        self.call_after_refresh(self.scroll_to_region_line, line)

    def scroll_to_region_line(self, line: int) -> None:
        top = self.lines.virtual_region.y + line
        if not (self.scroll_y <= top < self.scroll_y + self.size.height - 2):
            self.scroll_to(y=max(0, top - 1), animate=False, immediate=True)

    def on_message_lines_selection_moved(self, event: MessageLines.SelectionMoved) -> None:
        event.stop()
        self.scroll_to_line(event.line)
