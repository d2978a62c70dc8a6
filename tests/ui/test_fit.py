"""A screen that fits: below a width the side panel, then the sidebar, step
aside so the chat keeps about 40 columns; toggles still work."""

from __future__ import annotations

from textual.widgets import TabbedContent


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_panels_step_aside_and_come_back(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        panel = app.query_one("#side-panel", TabbedContent)
        assert app.sidebar.display and panel.display
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert app.sidebar.display and not panel.display
        assert app.chat.size.width >= 40
        await pilot.resize_terminal(60, 20)
        await settle(pilot)
        assert not app.sidebar.display and not panel.display
        assert app.chat.size.width >= 40
        # The person can still ask for a panel; it is shown as asked.
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert app.sidebar.display
        await pilot.press("ctrl+b")
        await pilot.resize_terminal(120, 36)
        await settle(pilot)
        # Hidden by the person at 60 columns: it stays hidden; the panel returns.
        assert not app.sidebar.display and panel.display


async def test_a_narrow_start_shows_the_chat_first(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not app.query_one("#side-panel", TabbedContent).display
        assert app.chat.size.width >= 40
