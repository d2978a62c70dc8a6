"""The session comes back after a quit or a crash, without Redis: the open
thread, each thread's draft, the theme, the side tab and the panels."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import TabbedContent

import chat_app.ui.areas.threads as threads_area
from chat_app.service import ChatService
from chat_app.ui.app import make_app
from tests.conftest import chat
from tests.ui.conftest import make_settings


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_the_screen_comes_back_as_it_was_left(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    svc = ChatService(settings)
    older = svc.create_thread("older thread").id
    chat(svc, older, "hello from the older thread")
    newer = svc.create_thread("newer thread").id
    chat(svc, newer, "hello from the newer thread")
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.current_id == newer
        app.open_thread(older)
        await settle(pilot)
        await pilot.press("f4")
        app.theme = "textual-light"
        await pilot.press("ctrl+b")
        await settle(pilot)
    svc.close()

    # A new process: a new in-process short-term tier, no Redis.
    svc = ChatService(settings)
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert app.current_id == older
        assert app.theme == "textual-light"
        assert not app.sidebar.display
        panel = app.query_one("#side-panel", TabbedContent)
        assert panel.display and panel.active == "tab-profile"
    svc.close()


async def test_a_draft_survives_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads_area, "DRAFT_SAVE_DELAY_S", 0.05)
    settings = make_settings(tmp_path / "data")
    svc = ChatService(settings)
    tid = svc.create_thread("a thread").id
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press(*"half written thought")
        await pilot.pause(0.2)
        await settle(pilot)
        # What a crash leaves: the process gone without its exit path.
        stored = ChatService(settings)
        assert stored.session.get_draft(tid) == "half written thought"
        stored.close()
    svc.close()
