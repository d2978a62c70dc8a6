"""The help screen (F1, or ? outside a text box): every key, by area.

The tables are made from the bindings of the widgets of each area (and the
app's own, sorted into areas by action), so a key added there appears here;
``HANDLED_IN_CODE`` adds the few keys that widgets read themselves.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

from chat_app.ui.widgets.chat_view import ChatView
from chat_app.ui.widgets.history_pane import HistoryPane
from chat_app.ui.widgets.message_lines import MessageLines
from chat_app.ui.widgets.profile_panel import FactRow, ProfilePanel
from chat_app.ui.widgets.thread_sidebar import ThreadList, ThreadSidebar
from chat_app.ui.widgets.timeline import TimelineList

# The widgets whose bindings make each area's table, nearest the focus first
# (the first binding of a key wins, as it does when the key is pressed).
AREA_WIDGETS: dict[str, tuple[type[DOMNode], ...]] = {
    "Chat": (MessageLines, ChatView),
    "Threads": (ThreadSidebar, ThreadList),
    "History": (HistoryPane, TimelineList),
    "Profile": (FactRow, ProfilePanel),
}
# The app's own bindings that belong to an area; the others are under "App".
APP_ACTION_AREAS = {
    "escape": "Chat",
    "regenerate": "Chat",
    "copy_reply": "Chat",
    "copy_code": "Chat",
    "new_thread": "Threads",
    "rename_thread": "Threads",
    "delete_thread": "Threads",
}
AREAS = ("Chat", "Threads", "History", "Profile", "App")
# Keys read by widgets themselves, not bindings.
HANDLED_IN_CODE: dict[str, list[tuple[str, str]]] = {
    "Chat": [
        ("enter", "Send (message box)"),
        ("ctrl+j / shift+enter", "New line (message box)"),
        ("↑", "Recall your last message (empty box)"),
    ],
    "Threads": [
        ("type", "Filter titles and text (filter box)"),
        ("enter", "To the list (filter box)"),
    ],
}
# Horizontal scrolling: nothing in these lists is wider than the screen.
IGNORED_ACTIONS = frozenset({"scroll_left", "scroll_right", "page_left", "page_right"})


def _bindings(node: type[DOMNode] | DOMNode) -> list[Binding]:
    merged = node._merged_bindings
    if merged is None:
        return []
    return [b for found in merged.key_to_bindings.values() for b in found]


def _describe(binding: Binding) -> str:
    return binding.description or binding.action.split("(")[0].replace("_", " ").capitalize()


def key_sections(app: App[Any]) -> dict[str, list[tuple[str, str]]]:
    """Area -> (keys, what they do), from the bindings in force."""
    found: dict[str, list[Binding]] = {area: [] for area in AREAS}
    for area, widgets in AREA_WIDGETS.items():
        for widget in widgets:
            found[area] += _bindings(widget)
    for binding in _bindings(type(app)):
        if binding.system or binding.action in IGNORED_ACTIONS:
            continue
        found[APP_ACTION_AREAS.get(binding.action, "App")].append(binding)
    if app.ENABLE_COMMAND_PALETTE:
        found["App"].append(Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Commands"))
    sections: dict[str, list[tuple[str, str]]] = {}
    for area in AREAS:
        # One row per action and description, its keys together ("f1 / ?");
        # a key bound nearer the focus hides the same key further out.
        rows: dict[tuple[str, str], tuple[list[str], str]] = {}
        taken: set[str] = set()
        for binding in found[area]:
            if binding.action in IGNORED_ACTIONS:
                continue
            for key in binding.key.split(","):
                if key in taken:
                    continue
                taken.add(key)
                display = app.get_key_display(Binding(key, binding.action))
                what = _describe(binding)
                keys, _ = rows.setdefault((binding.action.split("(")[0], what), ([], what))
                keys.append(display)
        table = [(" / ".join(keys), what) for keys, what in rows.values()]
        sections[area] = [*HANDLED_IN_CODE.get(area, []), *table]
    return sections


def help_text(sections: dict[str, list[tuple[str, str]]]) -> Text:
    text = Text()
    width = max((len(k) for rows in sections.values() for k, _ in rows), default=0)
    for area, rows in sections.items():
        if text:
            text.append("\n")
        text.append(area + "\n", style="bold underline")
        for keys, what in rows:
            text.append(f"  {keys:<{width}}  ", style="bold")
            text.append(what + "\n")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    """Every key by area; Esc, q or F1 closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1", "close", "Close"),
    ]

    def __init__(self, sections: dict[str, list[tuple[str, str]]]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static(Text("Keys (Esc or q closes)", style="bold"), id="help-title")
            with VerticalScroll(id="help-keys"):
                yield Static(help_text(self._sections), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-keys").focus()

    def action_close(self) -> None:
        self.dismiss(None)
