"""The messages of a thread, drawn with the line API, and the reply being written.

Only the messages on screen are rendered: a window of consecutive messages
(``_start`` to ``_end``). Opening a thread (or End) renders the last screen;
Home renders the first screen (``show_start``); older and newer ones are
rendered in batches as the person scrolls towards either edge of the window
(``load_older``, ``load_newer``). The reply being written is drawn only when
the window reaches the end of the thread. Each message
is rendered once per width (Rich Markdown, no hyperlinks: a link shows its
real target and is never clickable) and cached as Strips, and Textual asks
``render_line`` only for the lines on screen. One ``Markdown`` widget per
message would take ~16 s for 1,000 messages.

The reply being streamed is drawn here too, after the messages, the same way
(``set_live``): its finished blocks (split at blank lines outside code
fences) are rendered once each, and only the block still being written is
rendered again when tokens arrive. A Textual ``Markdown`` widget fed by
``MarkdownStream`` grows a widget per block and lays the screen out on every
update: it held the UI for ~100 ms at a time on a busy machine (a 10 ms timer's
p99 delay; 6-8 ms without it), and the reply changed look when it finished.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.markdown import Markdown as RichMarkdown
from rich.padding import Padding
from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from chat_app.safe_text import to_display
from chat_app.service.events import ChatMessage, SummaryMark
from chat_app.ui.markdown_text import code_blocks, markdown_blocks


def _background(seg: Segment) -> bool:
    return seg.style is not None and seg.style.bgcolor is not None


class MessageLines(Widget, can_focus=True):
    """Parents call ``set_messages``/``append``; it posts what the person asked for."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-lines--user",
        "message-lines--assistant",
        "message-lines--stopped",
        "message-lines--sending",
        "message-lines--selected",
        "message-lines--summary-mark",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "select(-1)", "Previous message", show=False),
        Binding("down", "select(1)", "Next message", show=False),
        Binding("e", "edit", "Edit & resend"),
        Binding("c", "copy", "Copy message"),
        Binding("y", "copy_code", "Copy code"),
    ]

    # Render at least this many screens of lines when scrolling up or down;
    # opening a thread (or a rewind) renders one screen, all that is seen
    # until then.
    SCREENS_AHEAD = 2
    # Going to a message further than this from the rendered ones starts a new
    # window there (rendering the messages in between would take seconds).
    FAR = 200
    # Columns the messages are drawn in at most (with one of padding each side).
    TEXT_COLUMNS = 102

    class EditRequested(Message):
        """Sent when the person asked to edit and resend one of their messages."""

        def __init__(self, message: ChatMessage) -> None:
            super().__init__()
            self.message = message

    class CopyRequested(Message):
        """Sent when the person asked to copy text (a message or a code block)."""

        def __init__(self, text: str, what: str) -> None:
            super().__init__()
            self.text = text
            self.what = what

    class SelectionMoved(Message):
        """Sent when the selected message changed (the parent scrolls to it)."""

        def __init__(self, line: int) -> None:
            super().__init__()
            self.line = line

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.messages: list[ChatMessage] = []
        self.read_only = False
        self.selected: int | None = None
        self._start = 0  # index of the oldest rendered message
        self._end = 0  # one past the newest rendered message
        self._width = 0
        self._blocks: list[list[Strip]] = []  # rendered messages[_start:_end]
        self._cache: dict[tuple[str, int, str, int], list[Strip]] = {}
        # The reply being written: its text, its finished blocks (text, strips)
        # and the strips of the block still being written.
        self.live_text: str | None = None
        # Drawn under the last message the model now sees only as a summary.
        self.summary_mark: SummaryMark | None = None
        self._live_done: list[tuple[str, list[Strip]]] = []
        self._live_tail: list[Strip] = []

    # -- data ---------------------------------------------------------------------

    def set_messages(self, messages: list[ChatMessage], *, read_only: bool = False) -> None:
        self.messages = list(messages)
        self.read_only = read_only
        self.selected = None
        self._start = self._end = len(self.messages)
        self._blocks = []
        if self._width:
            self._fill_initial()
        self.refresh(layout=True)

    def set_summary_mark(self, mark: SummaryMark | None) -> None:
        """Mark where the running summary ends (None: everything fits)."""
        if mark == self.summary_mark:
            return
        marked = {m.through for m in (self.summary_mark, mark) if m is not None}
        self.summary_mark = mark
        for i in range(self._start, self._end):
            if self.messages[i].id in marked:
                self._blocks[i - self._start] = self._render_message(self.messages[i])
        self.refresh(layout=True)

    def append(self, message: ChatMessage) -> None:
        at_end = not self.has_newer
        self.messages.append(message)
        if not at_end:
            return  # drawn when the person scrolls (or presses End) down to it
        self._end = len(self.messages)
        if self._width:
            self._blocks.append(self._render_message(message))
        self.refresh(layout=True)

    def acknowledge(self, saved: ChatMessage) -> bool:
        """Give the person's newest message (shown at once) its stored form.

        Sent, edited (no id yet) or regenerated (sent again: a new id).
        """
        for i in range(len(self.messages) - 1, max(-1, len(self.messages) - 4), -1):
            m = self.messages[i]
            if m.role == saved.role == "user":
                if m == saved:
                    return True
                self.messages[i] = saved
                if self._width and self._start <= i < self._end:
                    self._blocks[i - self._start] = self._render_message(saved)
                    self.refresh(layout=True)
                return True
        return False

    @property
    def all_saved(self) -> bool:
        """Every message shown has its stored id (none is only shown optimistically)."""
        return all(m.id for m in self.messages)

    @property
    def has_older(self) -> bool:
        return self._start > 0

    @property
    def has_newer(self) -> bool:
        """Messages after the rendered window (the person went to the start)."""
        return self._end < len(self.messages)

    @property
    def line_count(self) -> int:
        if self.has_newer:
            return self._message_lines()
        return (
            self._message_lines() + sum(len(b) for _, b in self._live_done) + len(self._live_tail)
        )

    def _message_lines(self) -> int:
        return sum(len(b) for b in self._blocks)

    # -- the reply being written --------------------------------------------------

    def set_live(self, text: str) -> None:
        """Show ``text`` (already made displayable) as the reply being written."""
        before = self.line_count
        self.live_text = text
        if self.has_newer:
            return  # not drawn until the window reaches the end (see _render_forward)
        if not self._width:
            self.refresh(layout=True)
            return
        self._render_live()
        if self.line_count != before:
            self.refresh(layout=True)
        else:
            # Same height (most batches): repaint the block being written, no layout.
            tail = len(self._live_tail)
            self.refresh(Region(0, self.line_count - tail, max(1, self.size.width), tail))

    def clear_live(self) -> None:
        if self.live_text is None:
            return
        self.live_text = None
        self._live_done = []
        self._live_tail = []
        self.refresh(layout=True)

    def _render_live(self) -> None:
        if self.live_text is None:
            return
        *done, tail = markdown_blocks(self.live_text)
        keep = 0
        while keep < min(len(done), len(self._live_done)) and (
            self._live_done[keep][0] == done[keep]
        ):
            keep += 1
        del self._live_done[keep:]
        for i in range(keep, len(done)):
            self._live_done.append((done[i], self._render_live_block(done[i], first=i == 0)))
        first = not done
        self._live_tail = self._render_live_block(tail, first) if tail or first else []

    def _render_live_block(self, text: str, first: bool) -> list[Strip]:
        if first:
            return self._render_lines(self._renderable(ChatMessage("", "assistant", text)))
        # Laid out as in the whole reply: one blank line between blocks (the
        # bottom padding of the one before). Rendered alone, a list or a quote
        # starts with a blank line of its own: dropped. (A code block's first
        # line has a background: it is part of the block, and kept.)
        options = self.app.console.options.update_width(max(1, self._width - 2))
        lines = self.app.console.render_lines(self._body("assistant", text), options, pad=True)
        while lines and all(not seg.text.strip() and not _background(seg) for seg in lines[0]):
            lines.pop(0)
        edge = Segment(" ")
        strips = [Strip([edge, *line, edge], self._width) for line in lines]
        return [*strips, Strip.blank(self._width)]

    def load_older(self) -> int:
        """Render the next batch of older messages; the number of lines added."""
        if not self._start or not self._width:
            return 0
        before = self.line_count
        self._render_back(self._screen_lines() * self.SCREENS_AHEAD)
        self.refresh(layout=True)
        return self.line_count - before

    def load_newer(self) -> int:
        """Render the next batch of newer messages; the number of lines added."""
        if not self.has_newer or not self._width:
            return 0
        before = self.line_count
        self._render_forward(self._screen_lines() * self.SCREENS_AHEAD)
        self.refresh(layout=True)
        return self.line_count - before

    def show_start(self) -> None:
        """Render the first messages of the thread (Home), whatever its length."""
        if not self.has_older:
            return
        self._start = self._end = 0
        self._blocks = []
        if self._width:
            # Two screens: enough to scroll down into, which renders the next ones.
            self._render_forward(self._screen_lines() * self.SCREENS_AHEAD)
        self.refresh(layout=True)

    def show_end(self) -> None:
        """Render the last messages of the thread and the reply being written (End)."""
        if not self.has_newer:
            return
        if self._width:
            self._fill_initial()
            self._render_live()
        else:
            self._start = self._end = len(self.messages)
            self._blocks = []
        self.refresh(layout=True)

    def load_all_from(self, index: int) -> int:
        """Render everything from message ``index`` on; the number of lines added."""
        before = self.line_count
        self._render_from(index)
        self.refresh(layout=True)
        return self.line_count - before

    def _render_from(self, index: int) -> None:
        while self._start > index and self._width:
            self._start -= 1
            self._blocks.insert(0, self._render_message(self.messages[self._start]))

    def _render_to(self, end: int) -> None:
        while self._end < end and self._width:
            self._blocks.append(self._render_message(self.messages[self._end]))
            self._end += 1
        if not self.has_newer:
            self._render_live()

    def line_of(self, index: int) -> int:
        """First line of message ``index`` (rendering the messages up to it if needed)."""
        if self._width and not (self._start - self.FAR < index < self._end + self.FAR):
            # Far from what is rendered (e.g. a message chosen in History, or
            # ↑ after Home): start a window there (with the end of the thread
            # if it is near it) rather than render everything in between.
            if len(self.messages) - index <= self.FAR:
                self._fill_initial()
                self._render_live()
                self._render_from(index)
            else:
                self._start = self._end = index
                self._blocks = []
                self._render_forward(self._screen_lines())
            self.refresh(layout=True)
        elif index >= self._end:
            self._render_to(index + 1)
            self.refresh(layout=True)
        else:
            self.load_all_from(index)
        return sum(len(b) for b in self._blocks[: index - self._start])

    # -- rendering ----------------------------------------------------------------

    def _screen_lines(self) -> int:
        return max(10, self.app.size.height)

    def _fill_initial(self) -> None:
        self._start = self._end = len(self.messages)
        self._blocks = []
        self._render_back(self._screen_lines())

    def _render_forward(self, lines_wanted: int) -> None:
        added = 0
        while self.has_newer and added < lines_wanted:
            block = self._render_message(self.messages[self._end])
            self._blocks.append(block)
            self._end += 1
            added += len(block)
        if not self.has_newer:
            self._render_live()

    def _render_back(self, lines_wanted: int) -> None:
        added = 0
        while self._start > 0 and added < lines_wanted:
            self._start -= 1
            block = self._render_message(self.messages[self._start])
            self._blocks.insert(0, block)
            added += len(block)

    def _renderable(self, m: ChatMessage) -> RenderableType:
        role_style = self.get_component_rich_style(f"message-lines--{m.role}", partial=True)
        header = Text("you" if m.role == "user" else "assistant", style=role_style)
        if m.status in ("stopped", "sending"):
            label = " (sending…)" if m.status == "sending" else " (stopped)"
            header.append(label, self.get_component_rich_style(f"message-lines--{m.status}"))
        return Padding(Group(header, self._body(m.role, m.text)), (0, 1, 1, 1))

    @staticmethod
    def _body(role: str, text: str) -> RenderableType:
        # Untrusted text: a Text object, or Markdown (which has no markup syntax).
        shown = to_display(text)
        if role == "user":
            return Text(shown)
        return RichMarkdown(shown, code_theme="monokai", hyperlinks=False)

    def _render_lines(self, renderable: RenderableType) -> list[Strip]:
        console = self.app.console
        options = console.options.update_width(self._width)
        lines = console.render_lines(renderable, options, pad=True)
        return [Strip(line, self._width) for line in lines]

    def _render_message(self, m: ChatMessage) -> list[Strip]:
        key = (m.id, len(m.text), m.status, self._width)
        strips = self._cache.get(key) if m.id else None
        if strips is None:
            strips = self._render_lines(self._renderable(m))
            if m.id:
                self._cache[key] = strips
        mark = self.summary_mark
        if mark is not None and m.id == mark.through:
            style = self.get_component_rich_style("message-lines--summary-mark")
            note = (
                f" ▲ the {mark.covers} messages above reach the model as a summary"
                " (ctrl+p: Show summary) "
            )
            strips = strips + self._render_lines(Padding(Text(note, style=style), (0, 1, 1, 1)))
        return strips

    def _ensure_width(self, width: int) -> None:
        # On a wide terminal the text keeps a readable width (lines of about
        # a hundred characters); the rest of the row is left blank.
        width = min(width, self.TEXT_COLUMNS)
        if width == self._width or width <= 0:
            return
        had_blocks = bool(self._blocks)
        start_index, end_index = self._start, self._end
        self._width = width
        self._cache.clear()
        self._live_done = []
        self._render_live()
        if had_blocks:
            # Same messages as before, re-rendered at the new width.
            self._start = self._end = start_index
            self._blocks = []
            self._render_to(end_index)
        else:
            self._fill_initial()

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # Called by the layout that just placed this widget at these sizes: a
        # new virtual size set with layout=True asks for a second, identical
        # layout (one more frame on opening a thread).
        return super()._size_updated(size, virtual_size, container_size, layout=False)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._ensure_width(width)
        return self.line_count

    def render_line(self, y: int) -> Strip:
        index = self._start
        for block in self._blocks:
            if y < len(block):
                strip = block[y].crop_extend(0, self.size.width, None)
                if self.selected == index:
                    style = self.get_component_rich_style("message-lines--selected")
                    strip = strip.apply_style(style)
                return strip
            y -= len(block)
            index += 1
        if self.has_newer:
            return Strip.blank(self.size.width)
        for block in [*(b for _, b in self._live_done), self._live_tail]:
            if y < len(block):
                return block[y].crop_extend(0, self.size.width, None)
            y -= len(block)
        return Strip.blank(self.size.width)

    # -- selection ----------------------------------------------------------------

    def _index_at(self, y: int) -> int | None:
        index = self._start
        for block in self._blocks:
            if y < len(block):
                return index
            y -= len(block)
            index += 1
        return None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and (index := self._index_at(offset.y)) is not None:
            self._select(index)

    def _select(self, index: int) -> None:
        self.selected = index
        self.refresh()
        self.post_message(self.SelectionMoved(self.line_of(index)))

    def action_select(self, step: int) -> None:
        if not self.messages:
            return
        if self.selected is None:
            index = len(self.messages) - 1
        else:
            index = min(len(self.messages) - 1, max(0, self.selected + step))
        self._select(index)

    def select_message(self, message_id: str) -> bool:
        for i, m in enumerate(self.messages):
            if m.id == message_id:
                self._select(i)
                return True
        return False

    @property
    def selected_message(self) -> ChatMessage | None:
        if self.selected is None or self.selected >= len(self.messages):
            return None
        return self.messages[self.selected]

    def _target(self) -> ChatMessage | None:
        if (m := self.selected_message) is not None:
            return m
        return next((m for m in reversed(self.messages) if m.role == "assistant"), None)

    def action_edit(self) -> None:
        m = self.selected_message
        if m is None or m.role != "user":
            self.notify("Select one of your messages (↑/↓) to edit it.", severity="warning")
            return
        if self.read_only:
            self.notify("This is a preview; rewind first to edit here.", severity="warning")
            return
        self.post_message(self.EditRequested(m))

    def action_copy(self) -> None:
        if (m := self._target()) is not None:
            self.post_message(self.CopyRequested(m.text, "message"))

    def action_copy_code(self) -> None:
        m = self._target()
        blocks = code_blocks(m.text) if m is not None else []
        if not blocks:
            self.notify("No code block in that message.", severity="warning")
            return
        self.post_message(self.CopyRequested(blocks[-1], "code block"))
