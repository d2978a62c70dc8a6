"""The layout area: showing, hiding and focusing the sidebar and the side
panel (History, Profile), panels that step aside on a narrow screen, and the
look the person chose (kept for the next start)."""

from __future__ import annotations

from textual import events, on
from textual.widget import Widget
from textual.widgets import TabbedContent

from chat_app.ui.areas.base import ChatAppBase

# The chat keeps at least this many columns while a panel can step aside.
MIN_CHAT_COLUMNS = 40


def fitting_panels(width: int, sidebar: bool, panel: bool) -> tuple[bool, bool]:
    """Which of the wanted panels fit beside a chat of MIN_CHAT_COLUMNS at
    ``width`` (their widths, borders included, follow app.tcss's breakpoints)."""
    if width <= 0:
        return sidebar, panel
    sidebar_w, panel_w = (21, 29) if width < 100 else (25, 33) if width < 130 else (33, 45)
    if panel and width - (sidebar_w if sidebar else 0) - panel_w < MIN_CHAT_COLUMNS:
        panel = False
    if sidebar and width - sidebar_w < MIN_CHAT_COLUMNS:
        sidebar = False
    return sidebar, panel


class LayoutArea(ChatAppBase):
    """The panels beside the chat, and the remembered look."""

    def action_toggle_sidebar(self) -> None:
        # Shown as asked even where it squeezes the chat: the person decides.
        sidebar = self.sidebar
        sidebar.display = not sidebar.display
        self._wants["sidebar"] = sidebar.display
        self._remember("sidebar", "shown" if sidebar.display else "hidden")
        self._focus_out_of_hidden()

    def action_toggle_side_panel(self) -> None:
        panel = self.main_screen.query_one("#side-panel")
        panel.display = not panel.display
        self._wants["panel"] = panel.display
        self._remember("panel", "shown" if panel.display else "hidden")
        self._focus_out_of_hidden()

    def _focus_out_of_hidden(self) -> None:
        """The keyboard never stays in a panel that was just hidden: what is
        typed next goes to the message box."""
        focused = self.focused
        if focused is None:
            return
        node: Widget | None = focused
        while node is not None and node.display:
            node = node.parent if isinstance(node.parent, Widget) else None
        if node is not None:
            self.chat_input.focus()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_panels(event.size.width)

    def _fit_panels(self, width: int) -> None:
        """Below a width the side panel, then the sidebar, step aside so the
        chat keeps about 40 columns; they come back when there is room."""
        if not self.screen_stack:
            return
        show_sidebar, show_panel = fitting_panels(
            width, self._wants["sidebar"], self._wants["panel"]
        )
        panel = self.main_screen.query_one("#side-panel")
        if self.sidebar.display != show_sidebar:
            self.sidebar.display = show_sidebar
        if panel.display != show_panel:
            panel.display = show_panel
        self._focus_out_of_hidden()

    def _show_tab(self, tab: str) -> None:
        panel = self.main_screen.query_one("#side-panel", TabbedContent)
        panel.display = True
        self._wants["panel"] = True
        panel.active = tab
        target = self._panel("history-pane" if tab == "tab-history" else "profile-panel")
        if target is not None:
            # The panel itself is a container: focus where its keys act (the
            # profile's first fact), else its first focusable child.
            entry = getattr(target, "entry_point", None)
            inner = entry() if entry is not None else None
            if inner is None:
                inner = next((w for w in target.query("*") if w.focusable), target)
            # Now, not a frame later: the next key (a fast typist's) acts here.
            self.main_screen.set_focus(inner)

    def action_focus_threads(self) -> None:
        self.sidebar.display = True
        self.main_screen.set_focus(self.main_screen.query_one("#thread-list"))

    def action_focus_history(self) -> None:
        self._show_tab("tab-history")

    def action_focus_profile(self) -> None:
        self._show_tab("tab-profile")

    @on(TabbedContent.TabActivated, "#side-panel")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-profile":
            self.warm_up()
        if event.pane.id and self._choices.get("tab") != event.pane.id:
            self._remember("tab", event.pane.id)

    def _theme_changed(self, theme: str) -> None:
        self._remember("theme", theme)
