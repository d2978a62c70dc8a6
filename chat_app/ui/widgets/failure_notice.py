"""The inline note under a reply that failed, with Retry and Discard."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static

from chat_app.safe_text import to_display


class FailureNotice(Vertical):
    """Hidden until the parent calls ``show``."""

    class RetryChosen(Message):
        """Sent when the person pressed Retry."""

    class DiscardChosen(Message):
        """Sent when the person pressed Discard: the unfinished turn goes."""

    def compose(self) -> ComposeResult:
        yield Static(id="failure-text")
        # Below the reason, not beside it: a narrow chat keeps the reason readable.
        with Horizontal(classes="failure-buttons"):
            yield Button("Retry", id="failure-retry", variant="warning")
            yield Button("Discard", id="failure-discard")

    def show(self, reason: str, can_retry: bool) -> None:
        text = Text("✖ The reply failed: ", style="bold")
        text.append(to_display(reason, single_line=True))
        if not can_retry:
            text.append(" (your message is kept; send it again)")
        self.query_one("#failure-text", Static).update(text)
        self.query_one("#failure-retry", Button).display = can_retry
        self.query_one("#failure-discard", Button).display = can_retry
        self.display = True

    def hide(self) -> None:
        self.display = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.hide()
        if event.button.id == "failure-discard":
            self.post_message(self.DiscardChosen())
        else:
            self.post_message(self.RetryChosen())
