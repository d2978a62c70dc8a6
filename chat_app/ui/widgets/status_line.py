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
        key = self.state.split(" ", 1)[0]
        state = Text(self.state, style=STATE_STYLES.get(key, "bold yellow"))
        model = Text(f" {self.model_name}", style="bold")
        backend = Text(f" · {self.backend}", style="dim")
        usage = Text(f"{self.usage} · ", style="dim") if self.usage else Text()
        # Thread titles are untrusted: plain Text, made one visible line.
        title = one_line(self.thread_title, 50) if self.thread_title else "(no thread)"
        # The state always shows. When the line is short of room the usage goes
        # first (before the title is shortened), then the backend (before the
        # title is cut below 16 columns), then the title is shortened further.
        width = self.size.width or 1_000
        fixed = model.cell_len + 6 + state.cell_len  # two " · " around the title
        for with_backend, with_usage, title_needs in (
            (True, True, len(title)),
            (True, False, min(len(title), 16)),
            (False, False, 0),
        ):
            room = width - fixed
            room -= (backend.cell_len if with_backend else 0) + (
                usage.cell_len if with_usage else 0
            )
            if room >= title_needs:
                break
        text = Text()
        text.append_text(model)
        if with_backend:
            text.append_text(backend)
        text.append(" · ")
        text.append(one_line(title, max(room, 4)) if len(title) > room else title)
        text.append(" · ")
        if with_usage:
            text.append_text(usage)
        text.append_text(state)
        return text
