"""Things a new user runs into in the TUI: branches, new threads, forgetting, themes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from chat_app.service import ChatService
from chat_app.ui.app import make_app
from chat_app.ui.widgets.history_pane import HistoryPane
from chat_app.ui.widgets.profile_panel import FactRow
from chat_app.ui.widgets.timeline import TimelineList
from tests.ui.conftest import make_settings
from tests.ui.test_chat import opened, send, settle


def user_texts(app: object) -> list[str]:
    return [m.text for m in app.chat.lines.messages if m.role == "user"]  # type: ignore[attr-defined]


async def test_rewind_then_back_to_latest_writes_no_checkpoint(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await opened(pilot)
        await send(pilot, "first question")
        await send(pilot, "second question")
        tid = service.list_threads()[0].id
        await pilot.press("f3")
        await settle(pilot)
        pane = app.query_one(HistoryPane)
        first = next(i for i, r in enumerate(pane.rows) if "you: first" in r.text.plain)
        app.query_one(TimelineList).highlighted = first
        await settle(pilot)
        await pilot.press("enter")  # rewind to before the first question
        await settle(pilot)
        assert user_texts(app) == []
        count = len(service.history(tid).checkpoints)
        for _ in range(3):
            await pilot.press("f3")
            await pilot.press("b")
            await settle(pilot)
            assert user_texts(app) == ["first question", "second question"]
            assert len(service.history(tid).checkpoints) == count
        # No new "branch 2 of 2" level each time: one fork, as after the rewind.
        assert sum(r.is_fork for r in pane.rows) == 1
        # Switching branches back and forth writes nothing either.
        for key in ("left", "right", "left", "right"):
            await pilot.press(key)
            await settle(pilot)
        assert len(service.history(tid).checkpoints) == count
        await pilot.press("left")
        await settle(pilot)
        shown = user_texts(app)
        await send(pilot, "third question")
        assert user_texts(app) == [*shown, "third question"]
        assert [m.text for m in service.load_messages(tid) if m.role == "user"] == [
            *shown,
            "third question",
        ]


async def test_ctrl_n_twice_makes_one_empty_thread(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert len(service.list_threads()) == 1
        await send(pilot, "hello")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert len(service.list_threads()) == 2


async def test_forgotten_fact_comes_back_with_u(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await opened(pilot)
        await send(pilot, "my name is Bob")
        before = service.profile()
        await pilot.press("f4")
        await settle(pilot)
        app.query_one(FactRow).focus()
        await pilot.press("x")
        await settle(pilot)
        assert service.profile() == []
        assert "Forgot Bob — u to undo" in [n.message for n in app._notifications]
        await pilot.press("u")
        await settle(pilot)
        # Back with where it was learned, not as a new fact.
        assert service.profile() == before
        assert "Bob" in [row.fact.value for row in app.query(FactRow)]


async def test_an_unknown_theme_is_named_in_a_warning(tmp_path: Path) -> None:
    base = make_settings(tmp_path / "data")
    settings = dataclasses.replace(base, ui=dataclasses.replace(base.ui, theme="no-such-theme"))
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600, warm_up_delay_s=0)
        async with app.run_test(size=(100, 30)) as pilot:
            await opened(pilot)
            notes = [n.message for n in app._notifications]
            warning = next(n for n in notes if "no-such-theme" in n)
            assert "textual-dark" in warning
    finally:
        service.close()
