"""Ask for one piece of text (rename a thread, edit a message, a model name).

A message is edited in a box like the one it was written in (several lines;
Enter confirms, ctrl+j starts a new line); a name in a one-line field."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from chat_app.ui.widgets.message_box import MessageBox


class TextPromptScreen(ModalScreen[str | None]):
    """Dismisses with the entered text, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, initial: str = "", *, confirm_label: str = "OK", multiline: bool = False
    ) -> None:
        super().__init__()
        self._title = title
        self._initial = initial
        self._confirm_label = confirm_label
        self._multiline = multiline

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog", classes="dialog"):
            yield Static(Text(self._title), id="prompt-title")
            # Plain text, never markup: the initial text is untrusted.
            if self._multiline:
                box = MessageBox(id="prompt-input", placeholder="")
                box.value = self._initial
                yield box
            else:
                yield Input(self._initial, id="prompt-input", select_on_focus=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._confirm_label, id="prompt-ok", variant="primary")
                yield Button("Cancel", id="prompt-cancel")

    def on_mount(self) -> None:
        self.query_one("#prompt-input").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def on_message_box_submitted(self, event: MessageBox.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "prompt-ok":
            field = self.query_one("#prompt-input")
            assert isinstance(field, Input | MessageBox)
            self.dismiss(field.value)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
