"""The thread sidebar: new, filter, rename, delete, and drafts per thread."""

from __future__ import annotations

import time

from chat_app.ui.screens.confirm import ConfirmScreen
from chat_app.ui.screens.text_prompt import TextPromptScreen
from chat_app.ui.widgets.thread_sidebar import FILTER_DEBOUNCE_S, ThreadList, ThreadSidebar
from tests.ui.conftest import screen_text
from tests.ui.test_chat import opened, settle


async def wait_for_screen(pilot, cls) -> None:
    """Until a modal of ``cls`` is on top with its buttons mounted (slow machines)."""
    for _ in range(200):
        await pilot.pause()
        if isinstance(pilot.app.screen, cls) and pilot.app.screen.query("Button"):
            return
    raise AssertionError(f"{cls.__name__} did not open")


def listed(app) -> list[str]:
    return [t.id for t in app.query_one("#thread-list", ThreadList).threads]


async def settle_filter(pilot) -> None:
    """Typing is debounced: wait out the pause, then the query's worker."""
    await pilot.pause(FILTER_DEBOUNCE_S * 2)
    await settle(pilot)


async def test_ctrl_n_creates_and_opens_a_thread(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        threads = service.list_threads()
        assert len(threads) == 1
        assert app.current_id == threads[0].id
        assert listed(app) == [threads[0].id]
        assert "(untitled)" in screen_text(app)


async def test_what_is_typed_right_after_ctrl_n_goes_to_the_new_thread(app_factory, service):
    first = service.create_thread("First")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.current_id == first.id
        await pilot.click("#chat-input")
        await pilot.press(*"draft for first")
        # The new thread is created in a worker: these keys come before it opens.
        await pilot.press("ctrl+n", *"hello new")
        await settle(pilot)
        new = next(t for t in service.list_threads() if t.id != first.id)
        assert app.current_id == new.id
        assert app.chat_input.value == "hello new"
        # The text typed before Ctrl-N stayed with the first thread.
        app.open_thread(first.id)
        await settle(pilot)
        assert app.chat_input.value == "draft for first"


async def test_a_message_sent_right_after_ctrl_n_goes_to_the_new_thread(app_factory, service):
    first = service.create_thread("First")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.click("#chat-input")
        # Enter comes before the new thread exists (it is created in a worker).
        await pilot.press("ctrl+n", *"hello new", "enter")
        for _ in range(3):
            await settle(pilot)
        new = next(t for t in service.list_threads() if t.id != first.id)
        assert app.current_id == new.id
        assert service.load_messages(new.id)[0].text == "hello new"
        assert service.load_messages(first.id) == []
        assert app.chat_input.value == ""
        # On screen: the message and its reply.
        assert app.chat.lines.messages[0].text == "hello new"
        assert len(app.chat.lines.messages) == 2


async def test_filter_searches_titles_and_text(app_factory, service):
    a = service.create_thread("Gardening")
    b = service.create_thread("Cooking")
    list(service.send(b.id, "how long do I boil an egg"))
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert set(listed(app)) == {a.id, b.id}
        await pilot.click("#thread-filter")
        await pilot.press(*"garden")
        await settle_filter(pilot)
        assert listed(app) == [a.id]
        await pilot.press(*["backspace"] * 6, *"egg")
        await settle_filter(pilot)
        assert listed(app) == [b.id]


async def test_threads_newest_first_with_age(app_factory, service):
    old = service.create_thread("Old one")
    new = service.create_thread("New one")
    now = time.time()
    app = app_factory(clock=lambda: now + 3 * 60)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert listed(app) == [new.id, old.id]
        assert "3m" in screen_text(app)


async def test_rename_via_modal(app_factory, service):
    info = service.create_thread("Before")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.current_id == info.id
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, TextPromptScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"After", "enter")
        await settle(pilot)
        assert service.get_thread(info.id).title == "After"
        assert "After" in screen_text(app)


async def test_delete_asks_first(app_factory, service):
    keep = service.create_thread("Keep")
    doomed = service.create_thread("Doomed")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.current_id == doomed.id
        await pilot.press("f8")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.click("#confirm-no")
        await settle(pilot)
        assert len(service.list_threads()) == 2
        await pilot.press("f8")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.click("#confirm-yes")
        await settle(pilot)
        assert [t.id for t in service.list_threads()] == [keep.id]
        assert listed(app) == [keep.id]
        # Nothing of the deleted thread stays on screen: not its title either.
        assert app.current_id is None and "Doomed" not in screen_text(app)


async def test_draft_survives_switching_threads(app_factory, service):
    a = service.create_thread("A")
    b = service.create_thread("B")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.current_id == b.id
        await pilot.click("#chat-input")
        await pilot.press(*"half-written")
        app.sidebar.post_message(ThreadSidebar.ThreadSelected(a.id))
        await settle(pilot)
        assert app.current_id == a.id
        assert app.chat_input.value == ""
        # Pick B in the list as a person would: highlight and Enter.
        app.query_one("#thread-list", ThreadList).focus()
        await pilot.press("home", "enter")
        await settle(pilot)
        assert app.current_id == b.id
        assert app.chat_input.value == "half-written"


async def test_poll_shows_threads_from_another_window(app_factory, service):
    app = app_factory(poll_interval_s=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        # After the start-up workers (the agent loads in one of them).
        await opened(pilot)
        other = service.create_thread("From elsewhere")
        for _ in range(100):
            await pilot.pause(0.02)
            if other.id in listed(app):
                break
        assert other.id in listed(app)


async def test_ten_thousand_threads_keyboard_click_and_filter(app_factory, service):
    for i in range(10_000):
        service.index.create(service.user_id, f"thread {i}")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        rows = app.query_one("#thread-list", ThreadList)
        ids = listed(app)
        assert len(ids) == 10_000
        assert app.current_id == ids[0]
        rows.focus()
        await pilot.press("home", "down", "down")
        assert rows.highlighted_id == ids[2]
        await pilot.press("end")
        assert rows.highlighted_id == ids[-1]
        assert rows.scroll_offset.y > 9_000  # the last row is in view
        assert "thread 0" in screen_text(app)  # the oldest, created first
        await pilot.press("pageup", "up")
        assert rows.highlighted == 10_000 - 1 - (rows.scrollable_content_region.height - 1) - 1
        await pilot.press("home", "pagedown")
        assert rows.highlighted == rows.scrollable_content_region.height - 1
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_id == ids[rows.scrollable_content_region.height - 1]
        # A click on the fourth row opens that thread.
        await pilot.press("home")
        await pilot.click("#thread-list", offset=(2, 3))
        await settle(pilot)
        assert app.current_id == ids[3]
        # The filter narrows the 10,000 to the matching ones, and clearing restores all.
        await pilot.click("#thread-filter")
        await pilot.press(*"thread 9999")
        await settle_filter(pilot)
        assert [t.title for t in rows.threads] == ["thread 9999"]
        await pilot.press(*["backspace"] * 11)
        await settle_filter(pilot)
        assert len(listed(app)) == 10_000


async def test_unchanged_listing_changes_nothing(app_factory, service):
    service.create_thread("One")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        rows = app.query_one("#thread-list", ThreadList)
        shown = rows.threads
        app.sidebar.threads = list(service.list_threads())
        assert rows.threads is shown  # equal key: the list is not rebuilt
        renamed = service.rename_thread(shown[0].id, "Two")
        app.sidebar.threads = service.list_threads()
        assert rows.threads[0].title == renamed.title == "Two"


async def test_rename_and_delete_from_the_list(app_factory, service):
    keep = service.create_thread("Keep")
    other = service.create_thread("Other")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        rows = app.query_one("#thread-list", ThreadList)
        rows.focus()
        await pilot.press("home", "down")
        assert rows.highlighted_id == keep.id
        await pilot.press("f2")
        await wait_for_screen(pilot, TextPromptScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"Kept", "enter")
        await settle(pilot)
        assert service.get_thread(keep.id).title == "Kept"
        assert "Kept" in screen_text(app)
        rows.focus()
        await pilot.press("home")
        assert rows.highlighted_id == keep.id  # renamed: now the newest
        await pilot.press("delete")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.click("#confirm-yes")
        await settle(pilot)
        assert listed(app) == [other.id]


async def test_titles_are_never_markup(app_factory, service):
    evil = "[bold]x[/bold] [@click=app.quit]q[/] [/ \x1b]52;c;aGk=\x07"
    service.index.create(service.user_id, evil)
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert app.is_running
        assert "[bold]x" in text
        assert "\x1b" not in text


async def test_ten_thousand_threads_list_quickly(app_factory, service):
    conn = service.index._conn if hasattr(service.index, "_conn") else None
    start = time.perf_counter()
    for i in range(10_000):
        service.index.create(service.user_id, f"thread {i}")
    del conn
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        t0 = time.perf_counter()
        await settle(pilot)
        elapsed = time.perf_counter() - t0
        assert len(listed(app)) == 10_000
        print(f"10,000 threads listed in {elapsed * 1000:.0f} ms (setup {t0 - start:.1f} s)")
        assert elapsed < 5
