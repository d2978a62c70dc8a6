"""The first screen comes up without the agent; the agent and the profile load
after it, or as soon as the person starts typing, and nothing waits for them
but a message sent in the first moment."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Static

from chat_app.config import Settings
from chat_app.service import ChatService
from chat_app.ui.app import make_app
from chat_app.ui.widgets.message_box import MessageBox
from chat_app.ui.widgets.profile_panel import EMPTY_TEXT, LOADING_TEXT, ProfilePanel
from tests.conftest import chat
from tests.ui.conftest import make_settings, screen_text


def panel_note(panel: ProfilePanel) -> str:
    return str(panel.query_one(".profile-empty", Static).content)


def earlier_session(data: Path) -> tuple[Settings, str]:
    settings = make_settings(data)
    svc = ChatService(settings)
    tid = svc.create_thread("Alice's thread").id
    chat(svc, tid, "My name is Alice")
    svc.close()
    return settings, tid


async def test_typing_loads_the_agent_and_the_profile(tmp_path: Path) -> None:
    settings, _ = earlier_session(tmp_path / "data")
    svc = ChatService(settings)
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        # The conversation is on screen; the agent is not loaded yet.
        assert "My name is Alice" in screen_text(app)
        assert not svc.agent_ready
        panel = app.query_one(ProfilePanel)
        assert panel_note(panel) == LOADING_TEXT

        await pilot.press("h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert svc.agent_ready
        assert [f.value for f in panel.facts] == ["Alice"]
        assert not panel.query(".profile-empty")
        # The message typed meanwhile is kept and sends.
        assert app.query_one("#chat-input", MessageBox).value == "h"
        await pilot.press("i", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [m.text for m in svc.load_messages(app.current_id or "")][2] == "hi"
    svc.close()


async def test_the_agent_loads_by_itself_after_the_first_screen(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    svc = ChatService(settings)
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            await app.workers.wait_for_complete()
            if svc.agent_ready and not app.query_one(ProfilePanel)._loading:
                break
        assert svc.agent_ready
        # Nothing learned yet, and it says so (no longer "loading").
        assert panel_note(app.query_one(ProfilePanel)) == EMPTY_TEXT
    svc.close()


async def test_a_damaged_last_thread_still_lists_the_others_and_says_why(
    tmp_path: Path,
) -> None:
    settings, _ = earlier_session(tmp_path / "data")
    svc = ChatService(settings)
    damaged = svc.create_thread("Damaged thread").id
    chat(svc, damaged, "this one breaks")
    svc.session.set_open_thread(damaged)
    assert svc.db_path is not None
    svc.close()
    with sqlite3.connect(svc.db_path) as conn:
        conn.execute(
            "UPDATE checkpoints SET type = 'msgpack', checkpoint = x'c1c1c1' WHERE thread_id = ?",
            (damaged,),
        )
    svc = ChatService(settings)
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        # The start-up worker gives up on the thread; opening it again, in a
        # worker of its own, fails and says why.
        errors: list[str] = []
        for _ in range(200):
            await pilot.pause(0.05)
            errors = [n.message for n in app._notifications if n.severity == "error"]
            if errors:
                break
        await pilot.pause()
        text = screen_text(app)
        assert "Alice's thread" in text and "Damaged thread" in text
        assert app.current_id == damaged
        assert len(errors) == 1 and "damaged" in errors[0] and "\n" not in errors[0]
    svc.close()


async def test_the_thread_opened_at_start_up_is_remembered(tmp_path: Path) -> None:
    # A session that names no thread (a new one, or Redis emptied): the newest
    # thread opens, and the session remembers it for a second window or the next start.
    settings, tid = earlier_session(tmp_path / "data")
    svc = ChatService(settings)
    assert svc.session.get_open_thread() is None
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            if svc.session.get_open_thread() is not None:
                break
        assert app.current_id == tid
        assert svc.session.get_open_thread() == tid
    svc.close()
