"""One line: model, storage backend, thread title and the state of the reply."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from chat_app.safe_text import one_line

STATE_STYLES = {
    "idle": "dim",
    "streaming": "bold green",
    "failed": "bold red",
    "interrupted": "bold yellow",
    "stopped": "yellow",
    "preview": "bold magenta",
}


class StatusLine(Static):
    """The app sets the attributes; nothing here talks to the service."""

    model_name: reactive[str] = reactive("")
    backend: reactive[str] = reactive("")
    thread_title: reactive[str] = reactive("")
    state: reactive[str] = reactive("idle")
    usage: reactive[str] = reactive("")

    def render(self) -> Text:
        text = Text()
        text.append(f" {self.model_name}", style="bold")
        text.append(f" · {self.backend}", style="dim")
        text.append(" · ")
        # Thread titles are untrusted: plain Text, made one visible line.
        text.append(one_line(self.thread_title, 50) if self.thread_title else "(no thread)")
        text.append(" · ")
        key = self.state.split(" ", 1)[0]
        state = Text(self.state, style=STATE_STYLES.get(key, "bold yellow"))
        # The usage goes first when the line is short of room; the state stays.
        if self.usage and text.cell_len + len(self.usage) + 3 + state.cell_len <= self.size.width:
            text.append(self.usage, style="dim")
            text.append(" · ")
        text.append_text(state)
        return text
