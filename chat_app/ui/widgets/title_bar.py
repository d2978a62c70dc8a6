"""The title line at the top: the app's name and the open thread's title.

It looks like Textual's ``Header`` (icon, centred "app — thread"), but the
thread title is its own reactive: ``App.sub_title`` repaints the whole screen
when it changes (about 20 ms, one more frame, on every thread opened), and
``Header`` is four widgets where one line does.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.widget import Widget

from chat_app.safe_text import one_line

ICON = "⭘"
ICON_WIDTH = 8
RIGHT_WIDTH = 10


class TitleBar(Widget):
    """The app sets ``thread_title``; a click on the icon opens the command palette."""

    ALLOW_SELECT = False
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    thread_title: reactive[str] = reactive("")

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title

    def render(self) -> Text:
        text = Text(self.title)
        if self.thread_title:
            # Untrusted: a plain Text, made one visible line.
            text.append(" — ", style="dim")
            text.append(one_line(self.thread_title, 50), style="dim")
        # As Header lays it out: the icon in 8 cells at the left, 10 cells
        # kept at the right, the title centred between them.
        room = max(0, self.size.width - ICON_WIDTH - RIGHT_WIDTH)
        text.truncate(room, overflow="ellipsis")
        start = ICON_WIDTH + (room - text.cell_len) // 2
        line = Text(f" {ICON}".ljust(start), no_wrap=True)
        line.append_text(text)
        return line

    def on_click(self, event: events.Click) -> None:
        if event.x < ICON_WIDTH and self.app.ENABLE_COMMAND_PALETTE:
            event.stop()
            self.app.action_command_palette()
