"""The conversation: finished messages (line API), the live reply, a failure note.

The live reply is a Textual ``Markdown`` fed through ``MarkdownStream``, which
batches tokens per frame instead of re-rendering the reply per token. When the
reply finishes it moves into ``MessageLines`` and the live widget is cleared.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream

from chat_app.core.events import ChatMessage
from chat_app.safe_text import to_display
from chat_app.ui.widgets.failure_notice import FailureNotice
from chat_app.ui.widgets.message_lines import MessageLines


class ChatView(VerticalScroll):
    """Parents call the methods below; it never calls the service."""

    # Load older messages when the view comes this close to the top.
    NEAR_TOP = 3

    class NearTop(Message):
        """Sent when the person scrolled up to the oldest rendered message."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._stream: MarkdownStream | None = None
        self.reply_text = ""

    def compose(self) -> ComposeResult:
        yield MessageLines(id="message-lines")
        # open_links=False: the app asks before following a link (LinkClicked).
        yield Markdown(id="live-reply", open_links=False)
        yield FailureNotice(id="failure-notice")

    def on_mount(self) -> None:
        self.query_one("#live-reply").display = False
        self.query_one(FailureNotice).display = False

    @property
    def lines(self) -> MessageLines:
        return self.query_one(MessageLines)

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def show_messages(self, messages: list[ChatMessage], *, read_only: bool = False) -> None:
        self.query_one(FailureNotice).hide()
        self.lines.set_messages(messages, read_only=read_only)
        self.anchor()

    def append_message(self, message: ChatMessage) -> None:
        self.lines.append(message)
        self.anchor()

    async def start_reply(self) -> None:
        await self.stop_stream()
        self.query_one(FailureNotice).hide()
        live = self.query_one("#live-reply", Markdown)
        await live.update("")
        live.display = True
        self.reply_text = ""
        self._stream = Markdown.get_stream(live)
        self.anchor()

    async def write_tokens(self, text: str) -> None:
        if self._stream is None:
            await self.start_reply()
        assert self._stream is not None
        # Every token is untrusted: control characters made visible first.
        shown = to_display(text)
        self.reply_text += shown
        await self._stream.write(shown)

    async def stop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.stop()

    async def finish_reply(self, message: ChatMessage | None) -> None:
        """Move the finished reply into the message lines (or just clear it)."""
        await self.stop_stream()
        live = self.query_one("#live-reply", Markdown)
        live.display = False
        await live.update("")
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
        if new <= self.NEAR_TOP and new < old and self.lines.has_older:
            self.post_message(self.NearTop())

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
