"""The help screen: every key by area, from the bindings in force."""

from __future__ import annotations

from chat_app.ui.app import ChatApp
from chat_app.ui.screens.help import HelpScreen
from tests.ui.conftest import screen_text
from tests.ui.test_chat import opened


def help_shown(app: ChatApp) -> str:
    assert isinstance(app.screen, HelpScreen)
    return str(app.screen.query_one("#help-text").render())


async def test_f1_lists_every_key_by_area_and_esc_closes_it(app_factory, service):
    service.create_thread("first")
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot)
        await pilot.press("f1")
        await opened(pilot)
        shown = help_shown(app)
        for area in ("Chat", "Threads", "History", "Profile", "App"):
            assert f"{area}\n" in shown
        # The app's keys, the focused widgets' keys and those handled in code.
        for binding in ChatApp.BINDINGS:
            assert binding.description in shown, binding  # type: ignore[union-attr]
        for what in ("Start of the thread", "Edit & resend", "Latest", "Forget", "Send"):
            assert what in shown
        assert "Keys (Esc or q closes)" in screen_text(app)
        await pilot.press("escape")
        await opened(pilot)
        assert not isinstance(app.screen, HelpScreen)


async def test_question_mark_opens_help_outside_text_boxes_only(app_factory, service):
    service.create_thread("first")
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot)
        app.chat_input.focus()
        await pilot.press("question_mark")
        await opened(pilot)
        assert not isinstance(app.screen, HelpScreen)
        assert app.chat_input.text == "?"  # typed, as in any text
        await pilot.press("ctrl+t")
        await opened(pilot)
        await pilot.press("question_mark")
        await opened(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await opened(pilot)
        assert not isinstance(app.screen, HelpScreen)
