"""The thread list on the left: filter box and threads newest first.

An ``OptionList`` (not ``ListView``: 42 s at 10,000 threads) rebuilt only when
the listing actually changed, so the 2-second poll costs nothing when idle.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from chat_app.core.events import ThreadInfo
from chat_app.ui.format import age, title_text


class ThreadSidebar(Vertical):
    """Posts messages; the app owns the threads and sets ``threads``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "rename", "Rename", show=False),
        Binding("delete", "delete", "Delete", show=False),
    ]

    threads: reactive[list[ThreadInfo]] = reactive(list, always_update=True)
    current_id: reactive[str | None] = reactive(None)

    class ThreadSelected(Message):
        """Sent when the person picked a thread in the list."""

        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    class FilterChanged(Message):
        """Sent when the filter text changed."""

        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class RenameRequested(Message):
        """Sent when the person asked to rename the highlighted thread."""

        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    class DeleteRequested(Message):
        """Sent when the person asked to delete the highlighted thread."""

        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._signature: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Filter threads…", id="thread-filter")
        yield OptionList(id="thread-list")

    def _row(self, t: ThreadInfo, width: int) -> Text:
        when = age(self._clock() - t.updated_at)
        mark = "⚠ " if t.interrupted else ""
        title = title_text(t.title, 200)
        room = max(4, width - len(when) - len(mark) - 1)
        title.truncate(room, overflow="ellipsis")
        row = Text(mark, style="bold yellow") + title
        row.pad_right(max(0, room - title.cell_len))
        row.append(" " + when, style="dim")
        return row

    def watch_threads(self, threads: list[ThreadInfo]) -> None:
        self._rebuild(threads)

    def watch_current_id(self, current_id: str | None) -> None:
        self._highlight(current_id)

    def _rebuild(self, threads: list[ThreadInfo]) -> None:
        width = max(12, (self.size.width or 30) - 4)
        rows = [(t.id, self._row(t, width)) for t in threads]
        signature = tuple((tid, row.plain) for tid, row in rows)
        if signature == self._signature:
            return
        self._signature = signature
        options = self.query_one("#thread-list", OptionList)
        # Keep the person's place while they move through the list; else follow the open thread.
        highlighted = options.highlighted_option
        keep = highlighted.id if highlighted is not None and options.has_focus else self.current_id
        options.set_options(Option(row, id=tid) for tid, row in rows)
        self._highlight(keep)

    def _highlight(self, thread_id: str | None) -> None:
        options = self.query_one("#thread-list", OptionList)
        if thread_id is None:
            return
        with contextlib.suppress(OptionDoesNotExist):
            options.highlighted = options.get_option_index(thread_id)

    def on_resize(self) -> None:
        self._signature = ()
        self._rebuild(self.threads)

    @on(Input.Changed, "#thread-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(event.value))

    @on(Input.Submitted, "#thread-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#thread-list", OptionList).focus()

    @on(OptionList.OptionSelected, "#thread-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.ThreadSelected(event.option.id))

    def _highlighted_id(self) -> str | None:
        option = self.query_one("#thread-list", OptionList).highlighted_option
        return option.id if option is not None else None

    def action_rename(self) -> None:
        if (tid := self._highlighted_id()) is not None:
            self.post_message(self.RenameRequested(tid))

    def action_delete(self) -> None:
        if (tid := self._highlighted_id()) is not None:
            self.post_message(self.DeleteRequested(tid))
