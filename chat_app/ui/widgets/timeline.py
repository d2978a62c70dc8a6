"""The history pane's timeline: the checkpoint tree with its branches, the rows
it is shown as, and the list that draws them (one line each, the time at the
right edge)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size, Spacing
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from chat_app.service.events import CheckpointInfo, History
from chat_app.ui.widgets.steady_scroll import SteadyScrollSizes

LABELLED_KINDS = frozenset({"user", "assistant", "rewind", "summary"})
ROOT = ""  # the virtual parent of every root checkpoint
ENTRY = "cp:"
FORK = "fork:"
MORE = "more:"
_MAX_INDENT = 3


@dataclass(frozen=True)
class TimelineRow:
    """One line of the timeline: an entry, or a fork's "branch k of n"."""

    option_id: str
    checkpoint_id: str  # the entry, or the fork point ("" for the roots)
    text: Text
    is_fork: bool = False
    current: bool = False
    depth: int = 0
    is_more: bool = False  # the "earlier entries…" row
    # What highlighting the row shows: for a "you" row the checkpoint after
    # it, where the message is part of the conversation.
    preview_id: str = ""

    @property
    def is_entry(self) -> bool:
        return not (self.is_fork or self.is_more)


class BranchTree:
    """The checkpoint tree from ``parent_id`` links, reduced to what has entries.

    Intermediate (unlabelled) checkpoints are walked through; a fork is a
    checkpoint with more than one child subtree holding a labelled entry.
    """

    def __init__(self, history: History) -> None:
        self.history = history
        self.by_id: dict[str, CheckpointInfo] = {c.id: c for c in history.checkpoints}
        kids: dict[str, list[str]] = {}
        for c in history.checkpoints:
            parent = c.parent_id if c.parent_id in self.by_id else ROOT
            kids.setdefault(parent or ROOT, []).append(c.id)
        for ids in kids.values():
            ids.sort(key=lambda i: (self.by_id[i].created_at, i))
        # Breadth-first from the roots puts parents before children whatever the
        # listing order; walking it backwards fills subtree facts bottom-up
        # without recursion (a 3,000-step chain would overflow the stack).
        order: list[str] = []
        queue = deque(kids.get(ROOT, []))
        while queue:
            node = queue.popleft()
            order.append(node)
            queue.extend(kids.get(node, []))
        live: set[str] = set()
        newest: dict[str, float] = {}
        for node in reversed(order):
            cp = self.by_id[node]
            newest[node] = max(newest.get(node, cp.created_at), cp.created_at)
            parent = cp.parent_id if cp.parent_id in self.by_id else ROOT
            parent = parent or ROOT
            newest[parent] = max(newest.get(parent, newest[node]), newest[node])
            if cp.kind in LABELLED_KINDS or node in live:
                live.update((node, parent))
        self.newest = newest
        self.branches: dict[str, list[str]] = {
            node: live_kids
            for node, ids in kids.items()
            if (live_kids := [i for i in ids if i in live])
        }

    def is_fork(self, node: str) -> bool:
        return len(self.branches.get(node, ())) > 1

    def default_choice(self, node: str) -> int:
        """The current branch where it passes here, else the newest subtree."""
        options = self.branches[node]
        for i, child in enumerate(options):
            if child in self.history.branch_ids:
                return i
        return max(range(len(options)), key=lambda i: self.newest.get(options[i], 0.0))

    def path(self, choices: dict[str, int]) -> list[str]:
        """Checkpoint ids from a root down, following ``choices`` at forks."""
        out: list[str] = []
        node = ROOT
        seen: set[str] = set()
        while (options := self.branches.get(node)) and node not in seen:
            seen.add(node)
            index = choices.get(node, -1) if len(options) > 1 else 0
            if not 0 <= index < len(options):
                index = self.default_choice(node)
            node = options[index]
            out.append(node)
        return out


class RowText(Text):
    """A row's text with its time, drawn at the right edge (never cut off)."""

    when: str = ""


def branch_indent(depth: int) -> str:
    # Tree glyphs: an entry under a fork sits on its branch's line.
    return "│ " * min(depth, _MAX_INDENT)


def is_shown(tree: BranchTree, path: list[str], i: int) -> bool:
    cp = tree.by_id[path[i]]
    if cp.kind not in LABELLED_KINDS:
        return False
    # An input checkpoint whose message went down another branch (a rewind to
    # before it, an edit) is not part of this path's conversation; the
    # service's branch_timeline applies the same rule.
    nxt = tree.by_id[path[i + 1]] if i + 1 < len(path) else None
    return not (cp.kind == "user" and nxt is not None and nxt.source in ("input", "update"))


class TimelineList(SteadyScrollSizes, OptionList):
    """An OptionList where a click only highlights (previews) an entry.

    OptionList selects on click; here selecting means rewinding, which must
    take a deliberate Enter or button press. A click on a fork row switches
    to its next branch; a click on "earlier entries…" shows them.
    """

    def __init__(self, *, id: str | None = None, markup: bool = True) -> None:
        super().__init__(id=id, markup=markup)
        # Drawn rows by prompt object (kept alive here, so its id is not reused).
        self._row_strips: LRUCache[tuple[int, VisualStyle, Spacing, int], tuple[object, Strip]]
        self._row_strips = LRUCache(maxsize=1024)

    def _update_lines(self) -> None:
        # Every row is one line (text-wrap: nowrap, no dividers): OptionList
        # would wrap every prompt to measure it, again after each resize, and
        # (while hidden) only during the next frame, which then lays the
        # screen out a second time. Counting the rows is enough.
        cache = self._line_cache
        count = len(self.options)
        for index in range(len(cache.lines), count):
            cache.index_to_line[index] = index
            cache.heights[index] = 1
            cache.lines.append((index, 0))
        # Only the row count is ours; the width is left as the layout set it.
        # (The scrollbar redrawn on every layout came from ScrollView's own
        # size check: see SteadyScrollSizes.)
        if count != self.virtual_size.height:
            virtual_size = Size(self.virtual_size.width, count)
            self.virtual_size = virtual_size
            self._scroll_update(virtual_size)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.options)

    def _get_option_render(self, option: Option, style: VisualStyle) -> list[Strip]:
        # A row is a one-line rich Text: cut it and turn it into segments
        # directly. OptionList's generic path (Content conversion, wrapping,
        # padding as a Visual) cost ~1 ms a row, ~30 ms for a screenful.
        padding = self.get_component_styles("option-list--option").padding
        width = self.scrollable_content_region.width - self._get_left_gutter_width()
        cache_key = (option, style, padding)
        strips = self._option_render_cache.get(cache_key)
        if strips is None:
            prompt = option.prompt
            # Rows outlive a rebuild of the list (the pane reuses the text of
            # an unchanged entry): after a rewind or a reply most rows on
            # screen are drawn already, only their position (meta) is new.
            row_key = (id(prompt), style, padding, width)
            kept = self._row_strips.get(row_key)
            if kept is not None and kept[0] is prompt:
                strip = kept[1]
            else:
                strip = self._render_prompt(prompt, style, padding, width)
                self._row_strips[row_key] = (prompt, strip)
            strips = [strip.apply_meta({"option": self._option_to_index[option]})]
            self._option_render_cache[cache_key] = strips
        return strips

    def _render_prompt(
        self, prompt: object, style: VisualStyle, padding: Spacing, width: int
    ) -> Strip:
        base = style.rich_style
        when = prompt.when if isinstance(prompt, RowText) else ""
        text = prompt.copy() if isinstance(prompt, Text) else Text(str(prompt))
        room = max(0, width - padding.width)
        # The time keeps its place at the right while there is room for it.
        if when and room >= len(when) + 12:
            text.truncate(room - len(when) - 1, overflow="ellipsis", pad=True)
            text.append(" " + when, style="dim")
        else:
            text.truncate(room, overflow="ellipsis")
        segments = [Segment(" " * padding.left, base)]
        segments += [
            Segment(part, base + part_style if part_style else base)
            for part, part_style, _ in text.render(self.app.console)
        ]
        return Strip(segments).extend_cell_length(width, base).crop(0, width)

    async def _on_click(self, event: events.Click) -> None:
        event.prevent_default()
        index = event.style.meta.get("option")
        if not isinstance(index, int) or self.get_option_at_index(index).disabled:
            return
        self.highlighted = index
        option_id = self.get_option_at_index(index).id or ""
        if option_id.startswith((FORK, MORE)):
            self.action_select()
