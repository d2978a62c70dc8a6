"""A screen that fits: below a width the side panel, then the sidebar, step
aside so the chat keeps about 40 columns; toggles still work."""

from __future__ import annotations

from textual import events
from textual.widgets import TabbedContent

from tests.ui.conftest import screen_text


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


async def test_typing_after_hiding_the_focused_sidebar_goes_to_the_message_box(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.focused is app.main_screen.query_one("#thread-list")
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not app.sidebar.display
        await pilot.press(*"where does this go")
        assert app.chat_input.value == "where does this go"


async def test_the_status_line_keeps_the_state_when_short_of_room(app_factory, service):
    long_title = "My name is Alice and I like green tea with lemon"
    service.create_thread(long_title)
    app = app_factory()
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        line = app.status.render().plain
        assert line.rstrip().endswith("idle") and len(line) <= 60
        assert "My name is" in line  # shortened, not dropped
        app.status.state = "streaming"
        await pilot.pause()
        assert app.status.render().plain.rstrip().endswith("streaming")
    app = app_factory()
    async with app.run_test(size=(160, 20)) as pilot:
        await settle(pilot)
        assert long_title in app.status.render().plain  # room: the whole title


async def test_on_a_wide_terminal_the_text_keeps_a_readable_width(app_factory, service):
    words = " ".join(f"word{i}" for i in range(120))
    app = app_factory()
    async with app.run_test(size=(240, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+b", "ctrl+o")  # the chat alone: 240 columns
        await pilot.pause()
        app.chat_input.value = words
        await pilot.press("enter")
        await settle(pilot)
        shown = screen_text(app).splitlines()[1:-2]  # the title, status and key bars aside
        rows = [row for row in shown if "word" in row]
        assert rows and "word119" in "".join(rows)
        # Lines of about a hundred characters, not of 240.
        assert max(len(row.rstrip()) for row in rows) <= 104, "\n".join(rows)
        assert len(rows) >= 7


async def test_keys_right_after_f3_or_ctrl_t_act_in_the_area_opened(app_factory, service):
    """A fast typist: the key after F3 (or ctrl+t) acts in History (or the list)."""
    tid = service.create_thread("first").id
    for text in ("one", "two"):
        for _ in service.send(tid, text):
            pass
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        timeline = app.main_screen.query_one("#history-timeline")
        await pilot.press("f3")
        await settle(pilot)
        newest = timeline.highlighted
        assert newest is not None and newest > 0
        app.chat_input.focus()
        await settle(pilot)
        # Both keys queued at once, as a terminal delivers a fast typist's.
        app.post_message(events.Key("f3", None))
        app.post_message(events.Key("up", None))
        await settle(pilot)
        assert app.focused is timeline and timeline.highlighted == newest - 1
        app.chat_input.focus()
        await settle(pilot)
        app.post_message(events.Key("ctrl+t", None))
        app.post_message(events.Key("x", None))
        await settle(pilot)
        assert app.focused is app.main_screen.query_one("#thread-list")
        assert "x" not in app.chat_input.value
