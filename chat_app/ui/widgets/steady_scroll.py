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

if TYPE_CHECKING:
    from textual.scroll_view import ScrollView

    _Base = ScrollView
else:
    # A plain mixin at run time: as a DOM class of its own it would stand
    # between a widget and its base in the CSS and component-class lookups.
    _Base = object


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
        return super()._size_updated(size, virtual_size, container_size, layout)
