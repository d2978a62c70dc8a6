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


async def test_the_chat_marks_where_the_running_summary_ends(app_factory, service):
    """A turn that summarises the thread's start puts a mark under the last
    message the model now sees only as a summary; the mark is not there before."""
    tid = bulk_thread(service, 400)
    note = "reach the model as a summary"
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.current_id == tid
        assert app.chat.lines.summary_mark is None
        await pilot.press(*"one more question", "enter")
        await settle(pilot)
        mark = app.chat.lines.summary_mark
        assert mark is not None
        messages = service.load_messages(tid)
        ids = [m.id for m in messages]
        assert mark.through in ids and mark.covers == ids.index(mark.through) + 1 < len(ids)
        # Go up to it, as a person would by scrolling: the mark sits under that message.
        assert app.chat.lines.select_message(mark.through)
        await settle(pilot)
        text = screen_text(app)
        assert f"the {mark.covers} messages above {note}" in text
        answer = " ".join(messages[mark.covers - 1].text.split(" ")[:2])  # "Answer 123."
        assert text.index(answer) < text.index(note)
        later = messages[mark.covers].text.split(":")[0] + ":"  # "question 124:"
        assert later in text and text.index(note) < text.index(later)
    # Opening the thread again shows the same mark.
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.chat.lines.summary_mark == mark
