"""The message box holds real messages: several lines, pastes kept whole,
Enter sends, a newline key that works in common terminals, ↑ recalls."""

from __future__ import annotations

from textual import events

from chat_app.ui.widgets.message_box import MessageBox
from chat_app.ui.widgets.message_lines import MessageLines
from tests.ui.conftest import screen_text


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_newline_keys_make_a_multi_line_message(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        box = app.query_one("#chat-input", MessageBox)
        await pilot.press(*"one", "ctrl+j", *"two", "alt+enter", *"three", "shift+enter", "f")
        assert box.value == "one\ntwo\nthree\nf"
        # The box grows to show the lines being written.
        assert box.size.height >= 4
        await pilot.press("enter")
        await settle(pilot)
        [thread] = service.list_threads()
        assert service.load_messages(thread.id)[0].text == "one\ntwo\nthree\nf"
        assert box.value == ""
        screen = screen_text(app)
        assert "three" in screen


async def test_a_pasted_block_keeps_every_line(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        box = app.query_one("#chat-input", MessageBox)
        # What the driver posts for a bracketed paste (terminals send CR or CRLF).
        box.post_message(events.Paste("first line\r\nsecond line\rthird line"))
        await pilot.pause()
        assert box.value == "first line\nsecond line\nthird line"
        await pilot.press("enter")
        await settle(pilot)
        [thread] = service.list_threads()
        assert service.load_messages(thread.id)[0].text == "first line\nsecond line\nthird line"


async def test_keys_typed_after_enter_start_the_next_message(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("h", "i", "enter", "n", "e", "x", "t")
        await settle(pilot)
        [thread] = service.list_threads()
        assert service.load_messages(thread.id)[0].text == "hi"
        assert app.query_one("#chat-input", MessageBox).value == "next"


async def test_up_in_the_empty_box_selects_my_last_message(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for text in ("first question", "second question"):
            await pilot.press(*text, "enter")
            await settle(pilot)
        await pilot.press("up")
        await pilot.pause()
        lines = app.query_one(MessageLines)
        assert app.focused is lines
        selected = lines.selected_message
        assert selected is not None and selected.text == "second question"
        # With text in the box, ↑ moves inside the box instead.
        await pilot.press("escape")
        box = app.query_one("#chat-input", MessageBox)
        assert app.focused is box
        await pilot.press("x", "up")
        assert app.focused is box
