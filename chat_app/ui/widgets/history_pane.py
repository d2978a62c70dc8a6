"""The history pane: a thread's checkpoints as a timeline, with its branches.

Built from the service's `History` (metadata only) once per change. The person
previews an entry by highlighting it (a message of theirs with the message in
the conversation), rewinds with Enter, and at a fork point switches between
branches with left/right, which makes that branch the thread's (nothing is
written: the app records the choice). Each row says who and what, with its
time at the right; the highlighted entry is shown in full below the list.
The pane never calls the service: it posts messages and the app sets ``history``.

Only the newest ``PAGE`` rows are shown, one line each (an OptionList measures
every option); an "earlier entries…" row at the top shows the next page, and
when the app read only the newest checkpoints (``History.complete`` is False)
it asks for the rest with ``EarlierRequested``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from chat_app.safe_text import one_line
from chat_app.service.events import CheckpointInfo, History
from chat_app.ui.widgets.timeline import (
    ENTRY,
    FORK,
    MORE,
    ROOT,
    BranchTree,
    RowText,
    TimelineList,
    TimelineRow,
    branch_indent,
    is_shown,
)

PROFILE_MARK = "✎"
EMPTY_TEXT = ("No history yet.", "Send a message: each step", "appears here.")


class HistoryPane(Widget):
    """The checkpoints of one thread; the app sets ``history``."""

    DEFAULT_CSS = """
    HistoryPane {
        height: 1fr;
        width: 1fr;
        layout: vertical;
    }
    HistoryPane #history-summary {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    HistoryPane #history-timeline {
        /* Always there: a scrollbar appearing lays the screen out again. */
        overflow-y: scroll;
        height: 1fr;
        width: 1fr;
        border: none;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    HistoryPane #history-detail {
        /* The highlighted entry in full: rows are one line in a narrow panel. */
        height: auto;
        max-height: 3;
        padding: 0 1;
        color: $text-muted;
    }
    HistoryPane #history-actions {
        height: auto;
        padding: 0 0 0 1;
    }
    HistoryPane #history-actions Button {
        margin-right: 1;
        min-width: 0;
        width: auto;
    }
    """

    # Priority: OptionList (a ScrollView) binds left/right to horizontal scrolling.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "switch_branch(-1)", "Prev branch", priority=True),
        Binding("right", "switch_branch(1)", "Next branch", priority=True),
        Binding("b", "back_to_latest", "Latest"),
    ]

    history: reactive[History | None] = reactive[History | None](None, init=False)

    # Rows shown at first, and added by each "earlier entries…".
    PAGE = 200

    class CheckpointPreviewed(Message):
        """Sent when the person highlights an entry: show the thread as it was there."""

        def __init__(self, checkpoint_id: str, thread_id: str = "") -> None:
            super().__init__()
            self.checkpoint_id = checkpoint_id
            self.thread_id = thread_id

    class RewindRequested(Message):
        """Sent when the person asks to continue from an entry (Enter, "Rewind")."""

        def __init__(self, checkpoint_id: str, thread_id: str = "") -> None:
            super().__init__()
            self.checkpoint_id = checkpoint_id
            self.thread_id = thread_id

    class BackToLatestRequested(Message):
        """Sent when the person asks to leave the preview and return to the latest."""

    class BranchChosen(Message):
        """Sent when the person switches to another branch at a fork: the
        thread shows (and the next message continues) the branch ending at
        ``checkpoint_id``. Nothing is written to the thread's checkpoints."""

        def __init__(self, checkpoint_id: str, thread_id: str = "") -> None:
            super().__init__()
            self.checkpoint_id = checkpoint_id
            self.thread_id = thread_id

    class EarlierRequested(Message):
        """Sent when the person asks for entries older than the checkpoints read."""

        def __init__(self, thread_id: str = "") -> None:
            super().__init__()
            self.thread_id = thread_id

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``tz``: the zone for entry times; None is the local zone (pass UTC in tests)."""
        super().__init__(name=name, id=id, classes=classes)
        self._tz = tz
        self._tree: BranchTree | None = None
        self._choices: dict[str, int] = {}
        self.rows: list[TimelineRow] = []  # as shown (the "earlier" row first if any)
        self.limit = self.PAGE  # how many of the newest rows are shown
        # The person asked for earlier entries: the app keeps reading them all.
        self.wants_all = False
        self._thread = ""
        self._focus_after_load: str | None = None
        # Whether the branch keys were shown: the key bar is refreshed only
        # when that changes, not on every new listing.
        self._had_forks: bool | None = None
        # Rows of the last rebuild and of this one, by what they show.
        self._entries: dict[tuple[CheckpointInfo, int, bool, bool, str], TimelineRow] = {}
        self._last_entries: dict[tuple[CheckpointInfo, int, bool, bool, str], TimelineRow] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="history-summary", markup=False)
        yield TimelineList(id="history-timeline", markup=False)
        yield Static(id="history-detail", markup=False)
        with Horizontal(id="history-actions"):
            yield Button("Rewind", id="history-rewind", compact=True, disabled=True)
            yield Button("Back to latest", id="history-latest", compact=True)

    def on_mount(self) -> None:
        self._rebuild()

    def watch_history(self) -> None:
        if self.is_mounted:
            self._rebuild()

    # -- building ---------------------------------------------------------------

    def _time(self, created_at: float) -> str:
        """Short: the time today, the weekday and time this week, else the date."""
        try:
            when = datetime.fromtimestamp(created_at, self._tz)
        except (OverflowError, OSError, ValueError):
            return "--:--"
        now = datetime.now(self._tz)
        if when.date() == now.date():
            return when.strftime("%H:%M")
        if 0 < (now.date() - when.date()).days < 7:
            return when.strftime("%a %H:%M")
        if when.year == now.year:
            return when.strftime("%b %d")
        return when.strftime("%Y-%m-%d")

    def _rows(self, tree: BranchTree) -> list[TimelineRow]:
        self._last_entries, self._entries = self._entries, {}
        path = tree.path(self._choices)
        branch_ids = tree.history.branch_ids
        rows: list[TimelineRow] = []
        last_current: int | None = None
        depth = 0

        index_of = {node: i for i, node in enumerate(path)}

        def fork_row(node: str) -> None:
            nonlocal depth
            options = tree.branches[node]
            chosen = path[index_of[node] + 1] if node else path[0]
            current = chosen in branch_ids
            text = Text(branch_indent(depth))
            text.append(f"├─⑂ branch {options.index(chosen) + 1} of {len(options)}", style="bold")
            text.append(" · current" if current else "", style="dim")
            text.append("  ←/→", style="dim")
            rows.append(TimelineRow(FORK + node, node, text, True, current, depth))
            depth += 1

        if tree.is_fork(ROOT):
            fork_row(ROOT)
        for i, node in enumerate(path):
            cp = tree.by_id[node]
            fork_here = tree.is_fork(node)
            if fork_here and cp.kind == "user":
                fork_row(node)
            if is_shown(tree, path, i):
                nxt = path[i + 1] if i + 1 < len(path) else None
                current = node in branch_ids and (
                    cp.kind != "user" or nxt is None or nxt in branch_ids
                )
                if current:
                    last_current = len(rows)
                preview = nxt if cp.kind == "user" and nxt is not None else ""
                rows.append(self._entry(cp, depth, current, preview_id=preview))
            if fork_here and cp.kind != "user":
                fork_row(node)
        if last_current is not None:
            row = rows[last_current]
            cp = tree.by_id[row.checkpoint_id]
            rows[last_current] = self._entry(
                cp, row.depth, current=True, latest=True, preview_id=row.preview_id
            )
        return rows

    def _entry(
        self,
        cp: CheckpointInfo,
        depth: int,
        current: bool,
        latest: bool = False,
        preview_id: str = "",
    ) -> TimelineRow:
        # The same row as in the last rebuild where nothing about it changed:
        # its text (and the list's drawing of it) is reused.
        key = (cp, depth, current, latest, preview_id)
        row = self._last_entries.get(key) or self._new_entry(cp, depth, current, latest, preview_id)
        self._entries[key] = row
        return row

    def _new_entry(
        self, cp: CheckpointInfo, depth: int, current: bool, latest: bool, preview_id: str
    ) -> TimelineRow:
        marker = "◆ " if latest else "● " if current else "○ "
        text = RowText(branch_indent(depth))
        text.when = self._time(cp.created_at)
        text.append(marker, style="bold" if current else "dim")
        # One line per entry: a mark before the summary (a long summary is cut
        # at the end), explained in the summary line above the timeline.
        if cp.profile_updated:
            text.append(f"{PROFILE_MARK} ", style="italic")
        summary = one_line(cp.summary or cp.kind, 120)
        text.append(summary, style="bold" if latest else "" if current else "dim")
        return TimelineRow(
            ENTRY + cp.id, cp.id, text, current=current, depth=depth, preview_id=preview_id
        )

    def _rebuild(self) -> None:
        history = self.history
        thread = history.thread_id if history is not None else ""
        if thread != self._thread:
            self._thread = thread
            self.limit = self.PAGE
            self.wants_all = False
            self._focus_after_load = None
        self._tree = BranchTree(history) if history is not None else None
        # A new listing means the head moved (a reply, a rewind): show the
        # current branch again rather than a stale choice.
        self._choices = {}
        focus_id, self._focus_after_load = self._focus_after_load, None
        self._render_rows(focus_id=focus_id)

    def _more_row(self, hidden: int) -> TimelineRow:
        text = Text("▲ earlier entries…", style="italic")
        if hidden:
            text.append(f" ({hidden:,} more)", style="dim")
        return TimelineRow(MORE, "", text, is_more=True)

    def _render_rows(self, focus_id: str | None) -> None:
        tree = self._tree
        rows = self._rows(tree) if tree is not None else []
        hidden = max(0, len(rows) - self.limit)
        self.rows = rows[hidden:]
        complete = tree is None or tree.history.complete
        if hidden or not complete:
            self.rows.insert(0, self._more_row(hidden))
        timeline = self.query_one(TimelineList)
        if self.rows:
            timeline.set_options(Option(r.text, id=r.option_id) for r in self.rows)
        else:
            # Said in the list itself: hiding the list and showing it again
            # would lay the screen out twice when the first entries arrive.
            timeline.set_options(Option(Text(line), disabled=True) for line in EMPTY_TEXT)
        entries = sum(1 for r in self.rows if r.is_entry)
        forks = sum(1 for r in self.rows if r.is_fork)
        summary = f"{entries} {'entry' if entries == 1 else 'entries'}" if self.rows else ""
        if hidden or not complete:
            summary = "newest " + summary
        if forks:
            summary += f" · {forks} fork{'s' if forks > 1 else ''}"
        if any(not r.current for r in self.rows if r.is_entry):
            summary += " · viewing another branch"
        if tree is not None and any(
            tree.by_id[r.checkpoint_id].profile_updated for r in self.rows if r.is_entry
        ):
            summary += f" · {PROFILE_MARK} profile updated"
        self.query_one("#history-summary", Static).update(Text(summary))
        if bool(forks) != self._had_forks:
            self._had_forks = bool(forks)
            # The key bar shows the branch keys only while focus is in the
            # pane (moving focus in refreshes it): refreshing the bindings
            # otherwise is wasted work, e.g. after every rewind.
            if self.has_focus_within:
                self.refresh_bindings()
        if focus_id is None:
            focus_id = next(
                (r.option_id for r in reversed(self.rows) if r.current and r.is_entry), None
            )
        target = next((i for i, r in enumerate(self.rows) if r.option_id == focus_id), None)
        if target is None and self.rows:
            target = len(self.rows) - 1
        # Moving the highlight ourselves is not the person previewing.
        with timeline.prevent(OptionList.OptionHighlighted):
            timeline.highlighted = target
        self._update_buttons()

    # -- reacting ---------------------------------------------------------------

    def _highlighted_row(self) -> TimelineRow | None:
        index = self.query_one(TimelineList).highlighted
        if index is None or not 0 <= index < len(self.rows):
            return None
        return self.rows[index]

    def _history_thread(self) -> str:
        return self.history.thread_id if self.history is not None else ""

    def _update_buttons(self) -> None:
        row = self._highlighted_row()
        self.query_one("#history-rewind", Button).disabled = row is None or not row.is_entry
        self.query_one("#history-detail", Static).update(self._detail(row))

    def _detail(self, row: TimelineRow | None) -> Text:
        """Who, when and what of the highlighted entry, not cut to the row's width."""
        tree = self._tree
        if row is None or not row.is_entry or tree is None:
            return Text()
        cp = tree.by_id[row.checkpoint_id]
        try:
            when = datetime.fromtimestamp(cp.created_at, self._tz).strftime("%Y-%m-%d %H:%M")
        except (OverflowError, OSError, ValueError):
            when = "--"
        text = Text(f"{when} · ", style="dim")
        text.append(one_line(cp.summary or cp.kind, 200))
        return text

    @on(OptionList.OptionHighlighted, "#history-timeline")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._update_buttons()
        row = self._highlighted_row()
        if row is not None and row.is_entry:
            shown = row.preview_id or row.checkpoint_id
            self.post_message(self.CheckpointPreviewed(shown, self._history_thread()))

    @on(OptionList.OptionSelected, "#history-timeline")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        row = self._highlighted_row()
        if row is None:
            return
        if row.is_more:
            self.show_earlier()
        elif row.is_fork:
            self._switch(row, 1)
        else:
            self.post_message(self.RewindRequested(row.checkpoint_id, self._history_thread()))

    @on(Button.Pressed, "#history-rewind")
    def _rewind_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        row = self._highlighted_row()
        if row is not None and row.is_entry:
            self.post_message(self.RewindRequested(row.checkpoint_id, self._history_thread()))
        # Keep the keyboard on the timeline, where the next choice is made.
        self.query_one(TimelineList).focus()

    @on(Button.Pressed, "#history-latest")
    def _latest_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_back_to_latest()
        self.query_one(TimelineList).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hide the branch keys from the key bar where there is no fork.
        if action == "switch_branch":
            return any(r.is_fork for r in self.rows)
        return True

    def show_earlier(self) -> None:
        """Show the next page of older rows; ask the app when they were not read."""
        first = next((r.option_id for r in self.rows if r.is_entry), None)
        self.limit += self.PAGE
        history = self.history
        if history is not None and not history.complete:
            self.wants_all = True
            self._focus_after_load = first
            self.post_message(self.EarlierRequested(history.thread_id))
        self._render_rows(focus_id=first)

    def action_back_to_latest(self) -> None:
        self._choices = {}
        self._render_rows(focus_id=None)
        self.post_message(self.BackToLatestRequested())

    def action_switch_branch(self, delta: int) -> None:
        """Switch the fork at or above the highlighted row (the first fork if none)."""
        index = self.query_one(TimelineList).highlighted
        forks = [i for i, r in enumerate(self.rows) if r.is_fork]
        if not forks:
            return
        above = [i for i in forks if index is not None and i <= index]
        self._switch(self.rows[above[-1] if above else forks[0]], delta)

    def _switch(self, fork: TimelineRow, delta: int) -> None:
        tree = self._tree
        if tree is None or not tree.is_fork(fork.checkpoint_id):
            return
        node = fork.checkpoint_id
        path = tree.path(self._choices)
        options = tree.branches[node]
        after = path[path.index(node) + 1] if node else path[0]
        self._choices[node] = (options.index(after) + delta) % len(options)
        self._render_rows(focus_id=fork.option_id)
        # The thread now shows this branch: its end is where it continues.
        end = tree.path(self._choices)
        if end:
            self.post_message(self.BranchChosen(end[-1], self._history_thread()))
