"""A ScrollView mixin: no redraw itself on layouts that changed nothing for it.

Textual's ScrollView compares the container size the layout gives it with one
it derives itself (its size less its gutter); they differ, so every layout of
the screen redrew its scrollbar. A frame's update covers the box around all
that is dirty, so one scrollbar on the far side of the screen made every frame
(each batch of a streaming reply, each filter, each rewind) draw everything in
between again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import Size
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.scroll_view import ScrollView

    _Base = ScrollView
else:
    # A plain mixin at run time: as a DOM class of its own it would stand
    # between a widget and its base in the CSS and component-class lookups.
    _Base = object


def draw_scrollbars_now(widget: Widget) -> None:
    """Draw the scrollbars a layout just changed in the frame that layout draws.

    Called from ``_size_updated``, which the screen calls during a layout:
    Textual's scrollbar asks for its repaint only afterwards, which took a
    frame of its own after every open and rewind (and one more idle window
    before the app was idle). Textual internals: if they change, the
    scrollbar is simply drawn a frame later again.
    """
    bars = [
        bar
        for bar in (widget._vertical_scrollbar, widget._horizontal_scrollbar)
        if bar is not None and bar._repaint_required
    ]
    if not bars:
        return
    try:
        compositor = widget.screen._compositor
    except Exception:
        return
    compositor.update_widgets(set(bars))
    for bar in bars:
        if bar in compositor.visible_widgets:
            bar._repaint_required = False


class SteadyScrollSizes(_Base):
    """Mixed in before a ScrollView subclass."""

    _last_sizes: tuple[Size, Size, Size] | None = None

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        sizes = (size, virtual_size, container_size)
        if sizes == self._last_sizes:
            return False
        self._last_sizes = sizes
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        draw_scrollbars_now(self)
        return changed
