"""The banner shown on a thread whose last reply did not finish (crash, failure)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static

from chat_app.safe_text import one_line, to_display

PARTIAL_PREVIEW_CHARS = 400


class RecoveryBanner(Vertical):
    """Hidden until the parent calls ``show``; posts what the person chose."""

    class ResumeChosen(Message):
        """Sent when the person asked to finish the interrupted reply."""

    class DiscardChosen(Message):
        """Sent when the person asked to drop the interrupted turn."""

    def compose(self) -> ComposeResult:
        yield Static(id="recovery-text")
        with Horizontal(classes="banner-buttons"):
            # The key that does the same from anywhere (the buttons need Tab).
            yield Button("Resume (ctrl+g)", id="recovery-resume", variant="primary")
            yield Button("Discard", id="recovery-discard")

    def show(self, user_text: str, partial: str) -> None:
        text = Text("⚠ The last reply did not finish", style="bold")
        if user_text:
            text.append(f" (you: “{one_line(user_text, 60)}”)", style="")
        text.append(".")
        if partial:
            shown = to_display(partial)
            if len(shown) > PARTIAL_PREVIEW_CHARS:
                shown = "…" + shown[-PARTIAL_PREVIEW_CHARS:]
            text.append("\nWritten so far: ", style="dim")
            text.append(shown)
        self.query_one("#recovery-text", Static).update(text)
        self.display = True

    def hide(self) -> None:
        self.display = False

    @on(Button.Pressed, "#recovery-resume")
    def _resume(self, event: Button.Pressed) -> None:
        event.stop()
        self.hide()
        self.post_message(self.ResumeChosen())

    @on(Button.Pressed, "#recovery-discard")
    def _discard(self, event: Button.Pressed) -> None:
        event.stop()
        self.hide()
        self.post_message(self.DiscardChosen())
