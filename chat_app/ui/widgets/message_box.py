"""The box a message is written in: several lines, Enter sends.

A one-line ``Input`` kept only the first line of a paste and glued typed
lines together. This box grows with its text up to a few lines (then
scrolls); Enter sends, and ctrl+j, alt+enter or shift+enter (where the
terminal reports it) start a new line. Pasted text keeps every line.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea

# Keys that start a new line instead of sending. Terminals report Enter with a
# modifier differently: ctrl+j is a plain newline byte and works everywhere.
NEWLINE_KEYS = frozenset({"ctrl+j", "alt+enter", "shift+enter", "ctrl+enter", "newline"})
# TextArea's keys that the app uses for itself: F6 copies the last code block,
# ctrl+y the last reply (TextArea: select line, select all, redo).
TAKEN_BY_THE_APP = frozenset({"f6", "f7", "ctrl+y"})


def _editing_bindings() -> list[BindingType]:
    kept: list[BindingType] = []
    for b in TextArea.BINDINGS:
        if not isinstance(b, Binding):
            continue
        keys = [k for k in b.key.split(",") if k not in TAKEN_BY_THE_APP]
        if keys:
            kept.append(replace(b, key=",".join(keys), show=False))
    return kept


# Short enough for a chat column of 40: how to send is Enter, how to add a line is not.
PLACEHOLDER = "Message… (ctrl+j: new line)"


class MessageBox(TextArea, inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = _editing_bindings()

    class Submitted(Message):
        """Sent when Enter is pressed: ``value`` is the text to send."""

        def __init__(self, box: MessageBox, value: str) -> None:
            super().__init__()
            self.box = box
            self.value = value

        @property
        def control(self) -> MessageBox:
            return self.box

    class RecallRequested(Message):
        """Sent when ↑ is pressed in an empty box: the person wants their last
        message (to edit and resend it)."""

    def __init__(self, *, id: str | None = None, placeholder: str = PLACEHOLDER) -> None:
        super().__init__(
            id=id,
            placeholder=placeholder,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            highlight_cursor_line=False,
        )

    @property
    def value(self) -> str:
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        if text == self.text:
            return
        self.load_text(text)
        # The cursor goes where the person would go on typing: the end.
        self.move_cursor(self.document.end)

    def render_line(self, y: int) -> Strip:
        # TextArea wraps its placeholder to the content width, and a width of
        # zero (a very narrow terminal) raises in the wrapping.
        if self.content_size.width <= 0:
            return Strip.blank(self.size.width)
        return super().render_line(y)

    # Textual calls TextArea's own _on_key/_on_paste after these (handlers run
    # down the class hierarchy) unless prevent_default() stops it.

    async def _on_key(self, event: events.Key) -> None:
        if self.read_only:
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key == "up" and not self.text:
            event.stop()
            event.prevent_default()
            self.post_message(self.RecallRequested())
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")

    async def _on_paste(self, event: events.Paste) -> None:
        # Terminals send pasted line ends as CR or CRLF: every line is kept.
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if text != event.text:
            event.stop()
            event.prevent_default()
            if not self.read_only:
                self.insert(text)
