"""The key bar at the bottom: the keys that work where focus is, and clicking one."""

from __future__ import annotations

from pathlib import Path

from chat_app.service import ChatService
from chat_app.ui.app import make_app
from chat_app.ui.widgets.key_bar import KeyBar
from tests.ui.conftest import make_settings, screen_text
from tests.ui.test_chat import opened, start_long_reply


def bottom_line(app) -> str:
    return screen_text(app).splitlines()[-1]


async def test_the_key_bar_follows_focus(app_factory, service):
    service.create_thread("first")
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        line = bottom_line(app)
        assert "^n New" in line and "f2 Rename" in line and "^p palette" in line
        assert "Latest" not in line  # a history key, shown only there
        await pilot.press("f3")  # focus the history pane
        await opened(pilot)
        assert "b Latest" in bottom_line(app)
        await pilot.press("ctrl+t")  # the thread list
        await opened(pilot)
        assert "b Latest" not in bottom_line(app)


async def test_clicking_a_key_presses_it(app_factory, service):
    service.create_thread("first")
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        before = len(service.list_threads())
        bar = app.query_one(KeyBar)
        assert bar.keys[0].description == "New"
        await pilot.click(KeyBar, offset=(2, 0))  # on "^n New"
        await opened(pilot)
        assert len(service.list_threads()) == before + 1


async def test_a_narrow_terminal_keeps_help_and_quit_and_drops_the_palette(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(24, 20)) as pilot:
        await opened(pilot)
        line = bottom_line(app)
        assert "f1 Help" in line and "^q Quit" in line
        assert "palette" not in line
        assert len(line) == 24
        assert_whole_entries(app.query_one(KeyBar), line)


def assert_whole_entries(bar: KeyBar, line: str) -> None:
    """Every key shown on ``line`` is shown with its whole description."""
    keys = [*bar.keys, *bar.always, *([bar.palette] if bar.palette else [])]
    for key in keys:
        starts = (f" {key.display} ", f"▏{key.display} ")
        if any(start in line for start in starts):
            assert any(f"{start}{key.description} " in line for start in starts), (key, line)


AREAS = ("^t Threads", "f3 History", "f4 Profile", "f1 Help", "^q Quit")


async def test_entries_are_dropped_whole_and_the_areas_help_and_quit_stay(app_factory, service):
    service.create_thread("first")
    for width in (120, 100, 80):
        app = app_factory()
        async with app.run_test(size=(width, 30)) as pilot:
            await opened(pilot)
            bar = app.query_one(KeyBar)
            for focus in ("#chat-input", "#thread-list", "#history-timeline", "#message-lines"):
                app.query_one(focus).focus()
                await opened(pilot)
                line = bottom_line(app)
                assert len(line) == width
                assert all(area in line for area in AREAS), (width, focus, line)
                assert_whole_entries(bar, line)


async def test_escape_is_shown_only_when_it_does_something(tmp_path: Path):
    settings = make_settings(tmp_path, offline_token_delay_ms=40)
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600, warm_up_delay_s=0)
        async with app.run_test(size=(120, 30)) as pilot:
            await opened(pilot)
            app.chat_input.focus()
            await opened(pilot)
            assert "esc " not in bottom_line(app)  # nothing to stop, already in the box
            app.query_one("#thread-list").focus()
            await opened(pilot)
            assert "esc Stop/Back" in bottom_line(app)  # back to the message box
            app.chat_input.focus()
            await start_long_reply(pilot)
            assert app.status.state == "streaming"
            assert "esc Stop/Back" in bottom_line(app)  # stops the reply
            await pilot.press("escape")
            await opened(pilot)
            assert "esc " not in bottom_line(app)
    finally:
        service.close()
