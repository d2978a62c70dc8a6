"""A longer text to read (e.g. the running summary of a thread); Esc closes."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from chat_app.safe_text import to_display


class TextViewScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="text-view-dialog", classes="dialog"):
            yield Static(Text(self._title, style="bold"))
            with VerticalScroll(id="text-view-body"):
                # Untrusted text (a model wrote it): never markup, controls made visible.
                yield Static(Text(to_display(self._body)))
            yield Button("Close", id="text-view-close")

    def on_mount(self) -> None:
        self.query_one("#text-view-close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
