"""The right-hand panels, imported lazily.

``HistoryPane`` and ``ProfilePanel`` live in their own modules; while either
is missing (or fails to import) the tab shows a note instead of breaking the app.
"""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static


def make_history_pane(tz: tzinfo | None = None) -> Widget:
    try:
        from chat_app.ui.widgets.history_pane import HistoryPane
    except ImportError:
        return Static(Text("History is not available in this build."), id="history-missing")
    pane: Widget = HistoryPane(id="history-pane", tz=tz)
    return pane


def make_profile_panel(tz: tzinfo | None = None) -> Widget:
    try:
        from chat_app.ui.widgets.profile_panel import ProfilePanel
    except ImportError:
        return Static(Text("Profile is not available in this build."), id="profile-missing")
    panel: Widget = ProfilePanel(id="profile-panel", tz=tz)
    return panel
