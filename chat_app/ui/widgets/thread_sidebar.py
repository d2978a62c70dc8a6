"""The thread list on the left: filter box and threads newest first.

The list is a line-API :class:`ThreadList` (a ``ScrollView`` that renders only
the rows in view from a plain list of :class:`ThreadInfo`): 10,000 threads cost
what the ~40 visible rows cost. ``ListView`` takes 42 s at that size and
``OptionList`` builds every row up front (1.3 s). Setting ``threads`` to a list
equal to the one shown compares a cheap key and does nothing else, so the
2-second poll costs nothing when idle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input

from chat_app.service.events import ThreadInfo
from chat_app.ui.format import age, title_text
from chat_app.ui.widgets.steady_input import SteadyInput
from chat_app.ui.widgets.steady_scroll import SteadyScrollSizes

# Typing in the filter: the first key queries at once, then at most one query
# per pause of this length (each query is an indexed LIKE over all messages).
FILTER_DEBOUNCE_S = 0.15
# Ages ("3m") go stale while nothing else changes: redraw the visible rows.
AGE_REFRESH_S = 30.0


class ThreadMessage(Message):
    """A message about one thread (the list's and the sidebar's messages)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__()
        self.thread_id = thread_id


class ThreadList(SteadyScrollSizes, ScrollView, can_focus=True):
    """A virtual list of threads: only the rows in view are rendered (and cached)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("enter", "select", "Open"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "thread-list--highlight",
        "thread-list--current",
        "thread-list--marker",
        "thread-list--interrupted",
        "thread-list--age",
    }

    # The cursor, the open thread and the marker are styled in app.tcss with
    # theme variables (visible in every theme, light and dark).
    DEFAULT_CSS = """
    ThreadList {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        & > .thread-list--interrupted {
            color: $warning;
            text-style: bold;
        }
        & > .thread-list--age {
            color: $foreground-muted;
        }
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """

    class Selected(ThreadMessage):
        """A row was chosen (Enter or click)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._threads: list[ThreadInfo] = []
        self._rows: dict[str, int] = {}
        self._highlighted: int | None = None
        self._current_id: str | None = None
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._styles: dict[tuple[object, ...], Style] = {}

    # -- data ------------------------------------------------------------------------

    @property
    def threads(self) -> list[ThreadInfo]:
        return self._threads

    @property
    def highlighted(self) -> int | None:
        return self._highlighted

    @highlighted.setter
    def highlighted(self, index: int | None) -> None:
        if index is not None:
            index = max(0, min(index, len(self._threads) - 1)) if self._threads else None
        old, self._highlighted = self._highlighted, index
        if old != index:
            self._refresh_row(old)
            self._refresh_row(index)
        if index is not None:
            self.scroll_to_region(Region(0, index, 1, 1), animate=False, immediate=True)

    @property
    def highlighted_id(self) -> str | None:
        index = self._highlighted
        return self._threads[index].id if index is not None else None

    def index_of(self, thread_id: str | None) -> int | None:
        return None if thread_id is None else self._rows.get(thread_id)

    def set_threads(self, threads: list[ThreadInfo], keep: str | None) -> None:
        """Show ``threads``; highlight ``keep`` if it is listed (else the first row)."""
        self._threads = threads
        self._rows = {t.id: i for i, t in enumerate(threads)}
        self._cache.clear()
        # A new length changes only this list's scroll range: no layout of the
        # screen (the virtual_size reactive would ask for one).
        size = Size(0, len(threads))
        if size != self.virtual_size:
            self.set_reactive(ThreadList.virtual_size, size)
            self._scroll_update(size)
        index = self._rows.get(keep) if keep is not None else None
        if index is None and self._highlighted is not None and threads:
            index = min(self._highlighted, len(threads) - 1)
        self._highlighted = index
        self.refresh()
        if index is not None:
            self.call_after_refresh(self._reveal, index)

    def _reveal(self, index: int) -> None:
        if index == self._highlighted:
            self.scroll_to_region(Region(0, index, 1, 1), animate=False, immediate=True)

    def set_current(self, thread_id: str | None) -> None:
        old = self.index_of(self._current_id)
        self._current_id = thread_id
        self._refresh_row(old)
        self._refresh_row(self.index_of(thread_id))

    def _refresh_row(self, index: int | None) -> None:
        if index is not None:
            self.refresh(Region(0, index - self.scroll_offset.y, self.size.width, 1))

    # -- rendering -------------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(AGE_REFRESH_S, self.refresh)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._styles.clear()

    def _style(self, *classes: str, partial: bool = False) -> Style:
        # Resolving a component style walks the CSS: a few per row added up to
        # most of the time a screenful of new rows took (e.g. after a filter).
        key = (self.has_focus, partial, *classes)
        found = self._styles.get(key)
        if found is None:
            found = self._styles[key] = self.get_visual_style(*classes, partial=partial).rich_style
        return found

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if not 0 <= index < len(self._threads) or width <= 0:
            return Strip.blank(width, self.visual_style.rich_style)
        thread = self._threads[index]
        when = age(self._clock() - thread.updated_at)
        highlight = index == self._highlighted
        current = thread.id == self._current_id
        key = (index, width, when, highlight, current, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(thread, when, width, highlight, current)
            self._cache[key] = strip
        return strip

    def _render_row(
        self, t: ThreadInfo, when: str, width: int, highlight: bool, current: bool
    ) -> Strip:
        classes = ("thread-list--current",) * current + ("thread-list--highlight",) * highlight
        row_style = self._style(*classes)

        def part(name: str) -> Style:
            return self._style(name, partial=True)

        # The open thread is marked in its first cell, so it stays told apart
        # from the cursor when both are on the same row.
        marker = "▌" if current else " "
        mark = "⚠ " if t.interrupted else ""
        room = max(1, width - len(when) - len(mark) - len(marker) - 1)
        # Untrusted: one_line neutralises control characters; Text is never markup.
        title = title_text(t.title, 200)
        title.truncate(room, overflow="ellipsis")
        row = Text()
        row.append(marker, style=part("thread-list--marker"))
        row.append(mark, style=part("thread-list--interrupted"))
        row.append_text(title)
        row.pad_right(max(0, room - title.cell_len))
        row.append(" " + when, style=part("thread-list--age"))
        segments = [
            Segment(text, row_style + seg_style if seg_style else row_style)
            for text, seg_style, _ in row.render(self.app.console)
        ]
        return Strip(segments).crop_extend(0, width, row_style)

    # -- keyboard and mouse ----------------------------------------------------------

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        if self._threads:
            self.highlighted = 0 if self._highlighted is None else self._highlighted - 1

    def action_cursor_down(self) -> None:
        if self._threads:
            self.highlighted = 0 if self._highlighted is None else self._highlighted + 1

    def action_first(self) -> None:
        if self._threads:
            self.highlighted = 0

    def action_last(self) -> None:
        if self._threads:
            self.highlighted = len(self._threads) - 1

    def action_page_up(self) -> None:
        if self._threads:
            self.highlighted = (self._highlighted or 0) - self._page()

    def action_page_down(self) -> None:
        if self._threads:
            self.highlighted = (self._highlighted or 0) + self._page()

    def action_select(self) -> None:
        if (tid := self.highlighted_id) is not None:
            self.post_message(self.Selected(tid))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.scroll_offset.y + offset.y
        if 0 <= index < len(self._threads):
            event.stop()
            self.highlighted = index
            self.post_message(self.Selected(self._threads[index].id))


class ThreadSidebar(Vertical):
    """Posts messages; the app owns the threads and sets ``threads``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "rename", "Rename"),
        Binding("delete", "delete", "Delete"),
    ]

    # The list repaints itself (only its rows): repainting the sidebar would
    # draw the filter box again with every result.
    threads: reactive[list[ThreadInfo]] = reactive(list, always_update=True, repaint=False)
    current_id: reactive[str | None] = reactive(None)

    class ThreadSelected(ThreadMessage):
        """Sent when the person picked a thread in the list."""

    class FilterChanged(Message):
        """Sent when the filter text changed (debounced while typing)."""

        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class RenameRequested(ThreadMessage):
        """Sent when the person asked to rename the highlighted thread."""

    class DeleteRequested(ThreadMessage):
        """Sent when the person asked to delete the highlighted thread."""

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        # The threads shown (rows are plain tuples: equal lists draw the same rows).
        self._shown: tuple[ThreadInfo, ...] = ()
        self._filter_timer: Timer | None = None
        self._filter_sent_at = -FILTER_DEBOUNCE_S
        self._filter_value = ""
        self._filter_sent = ""

    def compose(self) -> ComposeResult:
        yield SteadyInput(placeholder="Filter threads…", id="thread-filter")
        yield ThreadList(clock=self._clock, id="thread-list")

    @property
    def thread_list(self) -> ThreadList:
        return self.query_one("#thread-list", ThreadList)

    def watch_threads(self, threads: list[ThreadInfo]) -> None:
        shown = tuple(threads)
        if shown == self._shown:
            return
        self._shown = shown
        rows = self.thread_list
        # Keep the person's place while they move through the list; else follow the open thread.
        keep = rows.highlighted_id if rows.has_focus else self.current_id
        rows.set_threads(threads, keep)

    def watch_current_id(self, current_id: str | None) -> None:
        rows = self.thread_list
        rows.set_current(current_id)
        index = rows.index_of(current_id)
        if index is not None:
            rows.highlighted = index

    # -- filter ----------------------------------------------------------------------

    @on(Input.Changed, "#thread-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter_value = event.value
        if self._filter_timer is not None:
            self._filter_timer.stop()
        wait = self._filter_sent_at + FILTER_DEBOUNCE_S - time.monotonic()
        if wait <= 0:
            self._send_filter()
        else:
            # Typing: wait for a pause (restarted by each key).
            self._filter_timer = self.set_timer(FILTER_DEBOUNCE_S, self._send_filter)

    def _send_filter(self) -> None:
        self._filter_timer = None
        self._filter_sent_at = time.monotonic()
        if self._filter_value != self._filter_sent:
            self._filter_sent = self._filter_value
            self.post_message(self.FilterChanged(self._filter_value))

    @on(Input.Submitted, "#thread-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._send_filter()
        self.thread_list.focus()

    # -- choosing, renaming, deleting --------------------------------------------------

    @on(ThreadList.Selected)
    def _selected(self, event: ThreadList.Selected) -> None:
        event.stop()
        self.post_message(self.ThreadSelected(event.thread_id))

    def action_rename(self) -> None:
        if (tid := self.thread_list.highlighted_id) is not None:
            self.post_message(self.RenameRequested(tid))

    def action_delete(self) -> None:
        if (tid := self.thread_list.highlighted_id) is not None:
            self.post_message(self.DeleteRequested(tid))
