"""The status line shows the thread's tokens and how full the last request
was; the palette shows the running summary of a long thread."""

from __future__ import annotations

from chat_app.ui.screens.text_view import TextViewScreen
from tests.conftest import chat
from tests.ui.conftest import bulk_thread, screen_text


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_the_status_line_counts_tokens_and_context(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        assert "tokens" not in app.status.usage
        await pilot.press(*"hello there", "enter")
        await settle(pilot)
        usage = app.status.usage
        assert "tokens · context " in usage and usage.endswith("of 2k")
        assert usage in screen_text(app)


async def test_the_palette_shows_the_summary_of_a_long_thread(app_factory, service):
    tid = bulk_thread(service, 400)
    chat(service, tid, "one more question")
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.current_id == tid
        assert "summary: the f" in screen_text(app)  # its History entry
        await pilot.press("ctrl+p")
        await pilot.press(*"show summary")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TextViewScreen)
        assert "Summary of the first" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TextViewScreen)
