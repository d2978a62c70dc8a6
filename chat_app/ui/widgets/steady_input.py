"""An Input whose typing does not lay the whole screen out.

Textual's Input keeps its virtual size at the width of its text, and the
virtual size asks for a layout of the screen when it changes: every key typed
(and every value set, e.g. the thread filter) re-arranged every widget. The
box has a fixed size here; the virtual size only bounds horizontal scrolling,
which Input reads from it directly, so a repaint is enough.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input


class SteadyInput(Input):
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=True)
