"""The key bar at the bottom: the keys that work where focus is, and clicking one."""

from __future__ import annotations

from chat_app.ui.widgets.key_bar import KeyBar
from tests.ui.conftest import screen_text
from tests.ui.test_chat import opened


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


async def test_a_narrow_terminal_keeps_the_keys_and_drops_the_palette(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(24, 20)) as pilot:
        await opened(pilot)
        line = bottom_line(app)
        assert line.startswith(" ^n New")
        assert "palette" not in line
        assert len(line) == 24
