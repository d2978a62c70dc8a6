"""The key bar: the keys that work where focus is, drawn as one line.

It shows what Textual's ``Footer`` shows (the focused widget's and its
parents' bindings marked ``show``, one per action, and the command palette
key at the right), and a click on a key presses it. ``Footer`` mounts a
widget per key, restyled one by one, and does it again on every focus change:
about 85 ms of the app's start-up. This is one widget that repaints.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget


class Key(NamedTuple):
    key: str  # what pressing it sends (Binding.key)
    display: str  # how it is shown ("^n", "f2")
    description: str
    enabled: bool


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
        palette: Key | None = None
        app = self.app
        palette_key = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        for key, (_node, binding, enabled, _tooltip) in screen.active_bindings.items():
            shown = Key(binding.key, app.get_key_display(binding), binding.description, enabled)
            if key == palette_key:
                palette = shown
            elif binding.show and binding.action not in seen:
                seen.add(binding.action)
                keys.append(shown)
        if keys != self.keys or palette != self.palette:
            self.keys, self.palette = keys, palette
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

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y or width <= 0:
            return Strip.blank(width, self.rich_style)
        if self._strip is None or self._strip.cell_length != width:
            base = self.rich_style
            left = [seg for key in self.keys for seg in self._segments(key)]
            right: list[Segment] = []
            if self.palette is not None:
                right = [Segment("▏", base), *self._segments(self.palette, pad="")]
            right_width = Segment.get_line_length(right)
            room = width - right_width
            if room < 20:  # too narrow for both: the keys win
                right, room = [], width
            strip = Strip(left).crop(0, room).extend_cell_length(room, base)
            self._strip = Strip.join([strip, Strip(right)]).simplify()
        return self._strip

    def on_click(self, event: events.Click) -> None:
        key = event.style.meta.get("key")
        if not isinstance(key, str):
            return
        event.stop()
        shown = [*self.keys, self.palette] if self.palette is not None else self.keys
        if any(k.key == key and not k.enabled for k in shown):
            self.app.bell()
        else:
            self.app.simulate_key(key)
