"""The key bar: the keys that work where focus is, drawn as one line.

The ways to reach each area and to get help or quit (``ALWAYS``) are shown
wherever the focus is, at the right; the keys of the focused widget and of
the app fill the room left, in order. When the line is too short, whole
entries are dropped, lowest priority first: the app's own keys (last
first), the palette key, the focused widget's keys, then (only on very
narrow terminals) the areas' keys before help and quit. An entry is never cut.

It shows what Textual's ``Footer`` shows (the focused widget's and its
parents' bindings marked ``show``, one per action, and the command palette
key at the right), and a click on a key presses it. ``Footer`` mounts a
widget per key, restyled one by one, and does it again on every focus change:
about 85 ms of the app's start-up. This is one widget that repaints.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

# Actions shown wherever the focus is (when bound), in this order; on a very
# narrow terminal they go in the order of DROPPED_FIRST (help and quit stay).
ALWAYS = ("focus_threads", "focus_history", "focus_profile", "help", "quit")
DROPPED_FIRST = ("focus_profile", "focus_history", "focus_threads", "help", "quit")


class Key(NamedTuple):
    key: str  # what pressing it sends (one key of the binding)
    display: str  # how it is shown ("^n", "f2")
    description: str
    enabled: bool
    action: str = ""
    near: bool = True  # bound by the focused widget or a parent (not the app)


class KeyBar(Widget):
    """Subscribes to the screen's binding changes; never calls the service."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-bar--key",
        "key-bar--description",
        "key-bar--disabled",
    }
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyBar > .key-bar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .key-bar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .key-bar--disabled {
        text-style: dim;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.keys: list[Key] = []
        self.always: list[Key] = []
        self.palette: Key | None = None
        self._strip: Strip | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        keys: list[Key] = []
        seen: set[str] = set()
        always: dict[str, Key] = {}
        palette: Key | None = None
        app = self.app
        palette_key = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        for key, (node, binding, enabled, _tooltip) in screen.active_bindings.items():
            display = app.get_key_display(binding)
            # Esc is bound only while it does something: then it is wanted.
            near = node is not app or binding.action == "escape"
            shown = Key(key, display, binding.description, enabled, binding.action, near)
            if key == palette_key:
                palette = shown
            elif binding.action in ALWAYS:
                always.setdefault(binding.action, shown)
            elif binding.show and binding.action not in seen:
                seen.add(binding.action)
                # The app's "Delete" (F8) beside the list's own (del): one is enough.
                if not any(k.description == shown.description for k in keys):
                    keys.append(shown)
        kept = [always[action] for action in ALWAYS if action in always]
        if keys != self.keys or palette != self.palette or kept != self.always:
            self.keys, self.palette, self.always = keys, palette, kept
            self._strip = None
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None

    # -- drawing ------------------------------------------------------------------

    def _segments(self, key: Key, pad: str = " ") -> list[Segment]:
        meta = Style.from_meta({"key": key.key})
        key_style = self.get_component_rich_style("key-bar--key") + meta
        text_style = self.get_component_rich_style("key-bar--description") + meta
        if not key.enabled:
            dim = self.get_component_rich_style("key-bar--disabled")
            key_style, text_style = key_style + dim, text_style + dim
        return [
            Segment(f"{pad}{key.display} ", key_style),
            Segment(f"{key.description} ", text_style),
        ]

    @staticmethod
    def _width(key: Key) -> int:
        return cell_len(key.display) + cell_len(key.description) + 3  # as drawn by _segments

    def fitting(self, width: int) -> tuple[list[Key], list[Key], Key | None]:
        """The entries drawn in ``width`` cells: (left, always, palette)."""
        keys, always, palette = list(self.keys), list(self.always), self.palette

        def used() -> int:
            total = sum(map(self._width, keys)) + sum(map(self._width, always))
            return total + (self._width(palette) if palette is not None else 0)

        while used() > width:
            if far := [k for k in keys if not k.near]:
                keys.remove(far[-1])
            elif palette is not None:
                palette = None
            elif keys:
                keys.pop()
            else:
                always.remove(min(always, key=lambda k: DROPPED_FIRST.index(k.action)))
        return keys, always, palette

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y or width <= 0:
            return Strip.blank(width, self.rich_style)
        if self._strip is None or self._strip.cell_length != width:
            base = self.rich_style
            keys, always, palette = self.fitting(width)
            left = [seg for key in keys for seg in self._segments(key)]
            right = [seg for key in always for seg in self._segments(key)]
            if palette is not None:
                # "▏" and no leading space: the same width as the others.
                right += [Segment("▏", base), *self._segments(palette, pad="")]
            room = width - Segment.get_line_length(right)
            strip = Strip(left).extend_cell_length(room, base)
            self._strip = Strip.join([strip, Strip(right)]).simplify()
        return self._strip

    def on_click(self, event: events.Click) -> None:
        key = event.style.meta.get("key")
        if not isinstance(key, str):
            return
        event.stop()
        shown = [*self.keys, *self.always, *([self.palette] if self.palette else [])]
        if any(k.key == key and not k.enabled for k in shown):
            self.app.bell()
        else:
            self.app.simulate_key(key)
