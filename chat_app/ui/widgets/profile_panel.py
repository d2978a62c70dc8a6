"""The profile panel: what the agent has learned about the person.

Facts are grouped (name, preferences, facts), each with where and when it was
learned. The panel only posts messages (edit, forget, forget all, open the
source); the app calls the service and sets ``facts`` again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from chat_app.safe_text import one_line, to_display
from graphs.facts import ProfileFact

GROUP_TITLES = {"name": "Name", "preferences": "Preferences", "facts": "Facts"}
EMPTY_TEXT = "Nothing learned yet — tell me your name, where you live, what you like."
LOADING_TEXT = "Loading what I know about you…"
EDITED_MARK = "edited by you"
# How a kind reads in front of its value; "name" and plain facts stand alone.
_KIND_PREFIX = {
    "like": "likes",
    "dislike": "dislikes",
    "preference": "prefers",
    "location": "lives in",
    "job": "job:",
}


def provenance_text(fact: ProfileFact, tz: tzinfo | None) -> str:
    """The provenance line: "learned 2026-11-27 04:07 in thread 1f2e3d4c" or "edited by you ..."."""
    when = ""
    if fact.learned_at:
        try:
            when = datetime.fromisoformat(fact.learned_at).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        except (ValueError, OverflowError, OSError):
            when = one_line(fact.learned_at, 25)
    edited = fact.source_text == EDITED_MARK
    parts = [EDITED_MARK if edited else "learned"]
    if when:
        parts.append(when)
    if fact.thread_id:
        short = one_line(fact.thread_id[:8], 8)
        parts.append(f"· thread {short}" if edited else f"in thread {short}")
    return " ".join(parts)


class ProvenanceLink(Static):
    """Where a fact came from; a click opens that thread at that message."""

    def __init__(self, fact: ProfileFact, tz: tzinfo | None) -> None:
        super().__init__(Text(provenance_text(fact, tz)), classes="fact-provenance", markup=False)
        self.fact = fact
        if fact.source_text and fact.source_text != EDITED_MARK:
            self.tooltip = Text("“" + one_line(fact.source_text, 200) + "”")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        if self.fact.thread_id:
            self.post_message(
                ProfilePanel.ProvenanceOpened(self.fact.thread_id, self.fact.message_id)
            )


def forgot_notice(fact: ProfileFact) -> str:
    """What the app says after forgetting ``fact``: how to take it back."""
    return f"Forgot {one_line(fact.value, 60)} — u to undo"


class FactRow(Widget, can_focus=True):
    """One fact: its value, its provenance, and the actions on it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_provenance", "Open source"),
        Binding("e", "edit", "Edit"),
        Binding("delete,x", "forget", "Forget"),
        Binding("escape", "cancel_edit", "Cancel", show=False),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
    ]

    def __init__(self, fact: ProfileFact, tz: tzinfo | None) -> None:
        super().__init__(classes="fact-row")
        self.fact = fact
        self._tz = tz

    def compose(self) -> ComposeResult:
        value = Text()
        if prefix := _KIND_PREFIX.get(self.fact.kind):
            value.append(prefix + " ", style="dim")
        value.append(one_line(self.fact.value, 200))
        with Horizontal(classes="fact-line"):
            yield Static(value, classes="fact-value", markup=False)
            # Not focusable: the row is the tab stop and has keys for these.
            edit = Button("Edit", classes="fact-edit", compact=True)
            forget = Button("Forget", classes="fact-forget", compact=True)
            edit.can_focus = forget.can_focus = False
            yield edit
            yield forget
        yield ProvenanceLink(self.fact, self._tz)
        yield Input(
            to_display(self.fact.value, single_line=True),
            placeholder="A new value (Forget removes the fact)",
            classes="fact-editor",
            compact=True,
            # The cursor at the end of the value, as placed on edit: what is
            # typed adds to it (selecting it all on focus replaced it, at times).
            select_on_focus=False,
        )

    @property
    def editing(self) -> bool:
        return self.has_class("-editing")

    def action_edit(self, draft: str | None = None, focus: bool = True) -> None:
        editor = self.query_one(".fact-editor", Input)
        editor.value = to_display(self.fact.value, single_line=True) if draft is None else draft
        editor.cursor_position = len(editor.value)
        self.add_class("-editing")
        if focus:
            editor.focus()

    def action_cancel_edit(self) -> None:
        if self.editing:
            self.remove_class("-editing")
            self.focus()

    def action_forget(self) -> None:
        self.post_message(ProfilePanel.FactForgotten(self.fact.key, self.fact))

    def action_open_provenance(self) -> None:
        if self.fact.thread_id:
            self.post_message(
                ProfilePanel.ProvenanceOpened(self.fact.thread_id, self.fact.message_id)
            )

    def action_move(self, delta: int) -> None:
        siblings = self.parent.children if self.parent is not None else []
        rows = [w for w in siblings if isinstance(w, FactRow)]
        index = rows.index(self) + delta
        if 0 <= index < len(rows):
            rows[index].focus()

    @on(Input.Submitted, ".fact-editor")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if not value:
            return
        self.remove_class("-editing")
        self.focus()
        if value != to_display(self.fact.value, single_line=True):
            self.post_message(ProfilePanel.FactEdited(self.fact.key, value))

    @on(Button.Pressed, ".fact-edit")
    def _edit_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_edit()

    @on(Button.Pressed, ".fact-forget")
    def _forget_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_forget()


class ProfilePanel(Widget):
    """What the agent knows about the person; the app sets ``facts``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("u", "undo_forget", "Undo forget", show=False),
    ]

    DEFAULT_CSS = """
    ProfilePanel {
        height: 1fr;
        width: 1fr;
        layout: vertical;
    }
    ProfilePanel #profile-toolbar {
        height: auto;
        padding: 0 1;
    }
    ProfilePanel #profile-title {
        width: 1fr;
        text-style: bold;
    }
    ProfilePanel #profile-facts {
        height: 1fr;
    }
    ProfilePanel .profile-empty {
        padding: 1 1;
        color: $text-muted;
    }
    ProfilePanel .profile-group {
        padding: 1 1 0 1;
        text-style: bold;
        color: $accent;
    }
    ProfilePanel FactRow {
        height: auto;
        padding: 0 1;
    }
    ProfilePanel FactRow:focus-within {
        background: $boost;
    }
    ProfilePanel FactRow:focus {
        background: $accent 20%;
    }
    ProfilePanel .fact-line {
        height: auto;
    }
    ProfilePanel .fact-value {
        width: 1fr;
    }
    ProfilePanel .fact-line Button, ProfilePanel #profile-toolbar Button {
        margin-left: 1;
        min-width: 0;
        width: auto;
    }
    ProfilePanel .fact-provenance {
        color: $text-muted;
        padding-left: 2;
    }
    ProfilePanel .fact-provenance:hover {
        text-style: underline;
    }
    ProfilePanel .fact-editor {
        display: none;
        margin: 0 0 0 2;
    }
    ProfilePanel FactRow.-editing .fact-editor {
        display: block;
    }
    """

    # Every assignment redraws (the first one ends "loading", even when empty);
    # the app assigns through show(), which skips an unchanged profile.
    facts: reactive[list[ProfileFact]] = reactive[list[ProfileFact]](
        list, init=False, always_update=True
    )

    class FactEdited(Message):
        """Sent when the person changed a fact's value."""

        def __init__(self, key: str, value: str) -> None:
            super().__init__()
            self.key = key
            self.value = value

    class FactForgotten(Message):
        """Sent when the person asked to forget one fact."""

        def __init__(self, key: str, fact: ProfileFact | None = None) -> None:
            super().__init__()
            self.key = key
            self.fact = fact  # as it was: what undo puts back

    class FactRestored(Message):
        """Sent when the person undid forgetting a fact (``u``)."""

        def __init__(self, fact: ProfileFact) -> None:
            super().__init__()
            self.fact = fact

    class ForgetAllRequested(Message):
        """Sent when the person asked to forget everything (the app confirms first)."""

    class ProvenanceOpened(Message):
        """Sent when the person opened where a fact was learned."""

        def __init__(self, thread_id: str, message_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id
            self.message_id = message_id

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``tz``: the zone for "learned" times; None is the local zone (pass UTC in tests)."""
        super().__init__(name=name, id=id, classes=classes)
        self._tz = tz
        self._loading = True
        # The fact forgotten last, until undone: ``u`` puts it back.
        self.last_forgotten: ProfileFact | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="profile-toolbar"):
            yield Static("What I know about you", id="profile-title", markup=False)
            yield Button("Forget all", id="profile-forget-all", variant="error", compact=True)
        yield VerticalScroll(id="profile-facts")

    async def on_mount(self) -> None:
        await self._rebuild()

    async def watch_facts(self) -> None:
        self._loading = False
        if self.is_mounted:
            await self._rebuild()

    def entry_point(self) -> Widget | None:
        """Where the keyboard goes when the panel is opened: the first fact
        (its keys: e edit, Delete forget), not the Forget all button."""
        return next(iter(self.query(FactRow)), None) or self.query_one("#profile-facts")

    def show(self, facts: list[ProfileFact]) -> None:
        """The profile as read (the panel says it is loading until the first read)."""
        if self._loading or facts != self.facts:
            self.facts = facts

    def _widgets(self, facts: list[ProfileFact]) -> Iterable[Widget]:
        if not facts:
            text = LOADING_TEXT if self._loading else EMPTY_TEXT
            yield Static(text, classes="profile-empty", markup=False)
            return
        for group, title in GROUP_TITLES.items():
            members = [f for f in facts if f.group == group]
            if members:
                yield Static(title, classes="profile-group", markup=False)
                yield from (FactRow(f, self._tz) for f in members)

    async def _rebuild(self) -> None:
        body = self.query_one("#profile-facts", VerticalScroll)
        focused = self.app.focused
        keep: tuple[str, int] | None = None
        draft: tuple[str, str] | None = None
        for i, row in enumerate(body.query(FactRow)):
            if focused is not None and (focused is row or row in focused.ancestors):
                keep = (row.fact.key, i)
            if row.editing:
                draft = (row.fact.key, row.query_one(".fact-editor", Input).value)
        facts = list(self.facts)
        self.query_one("#profile-forget-all", Button).disabled = not facts
        with self.app.batch_update():
            await body.remove_children()
            await body.mount_all(self._widgets(facts))
        # Facts change under the person when a reply teaches something new:
        # keep their place and any half-typed edit.
        rows = list(body.query(FactRow))
        if keep is not None:
            target = next((r for r in rows if r.fact.key == keep[0]), None)
            if target is None and rows:
                target = rows[min(keep[1], len(rows) - 1)]
            if target is not None:
                target.focus()
            else:
                # The last fact went: the keyboard stays here (u undoes it).
                body.focus()
        editing = next((r for r in rows if draft and r.fact.key == draft[0]), None)
        if editing is not None and draft is not None:
            editing.action_edit(draft[1], focus=keep is not None and keep[0] == draft[0])

    @on(FactForgotten)
    def _remember_forgotten(self, event: FactForgotten) -> None:
        # Not stopped: the app does the forgetting.
        self.last_forgotten = event.fact

    def action_undo_forget(self) -> None:
        fact, self.last_forgotten = self.last_forgotten, None
        if fact is not None:
            self.post_message(self.FactRestored(fact))

    @on(Button.Pressed, "#profile-forget-all")
    def _forget_all(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.ForgetAllRequested())
