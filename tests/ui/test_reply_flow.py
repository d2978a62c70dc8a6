"""Replies without reloads, batched tokens, Escape, and the history pane's pages in the app."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from chat_app.service import ChatService
from chat_app.service.events import Token
from chat_app.ui.app import make_app
from chat_app.ui.areas import history as history_area
from chat_app.ui.areas import reply as reply_area
from chat_app.ui.widgets.history_pane import HistoryPane
from chat_app.ui.widgets.timeline import TimelineList
from tests.ui.conftest import make_settings
from tests.ui.test_chat import send, settle, start_long_reply


def shown_equals_stored(app, service: ChatService, tid: str) -> None:
    shown = [(m.id, m.role, m.text, m.status) for m in app.chat.lines.messages]
    stored = [(m.id, m.role, m.text, m.status) for m in service.load_messages(tid)]
    assert shown == stored


async def test_finished_reply_is_appended_without_reloading(app_factory, service, monkeypatch):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "first question")
        tid = service.list_threads()[0].id
        reloads: list[str] = []
        monkeypatch.setattr(app, "reload_thread", lambda: reloads.append("reload"))
        await send(pilot, "second question")
        await send(pilot, "third question")
        assert reloads == []
        # Every message shown is the stored one: ids (edit, select), texts, statuses.
        shown_equals_stored(app, service, tid)
        assert [m.role for m in app.chat.lines.messages] == ["user", "assistant"] * 3
        # The history pane caught up with the last reply.
        pane = app.query_one(HistoryPane)
        assert pane.history is not None and pane.history.head_id == service.history(tid).head_id
        assert "you: third question" in "\n".join(r.text.plain for r in pane.rows)


async def test_regenerate_and_edit_still_show_the_stored_conversation(
    app_factory, service, monkeypatch
):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "first question")
        await send(pilot, "second question")
        tid = service.list_threads()[0].id
        await pilot.press("ctrl+g")
        await settle(pilot)
        shown_equals_stored(app, service, tid)


async def test_batched_tokens_show_the_whole_reply(tmp_path: Path):
    settings = make_settings(tmp_path, offline_token_delay_ms=1)
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await send(pilot, "tell me a long story please")
            tid = service.list_threads()[0].id
            shown_equals_stored(app, service, tid)
            assert len(app.chat.lines.messages[-1].text) > 20
    finally:
        service.close()


async def test_tokens_from_a_worker_are_flushed_in_order_and_in_full(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        tid = service.create_thread("t").id
        app.open_thread(tid)
        await settle(pilot)
        words = [f"w{i} " for i in range(500)]

        def produce() -> None:
            for w in words:
                app._buffer_token(Token(tid, w))

        worker = threading.Thread(target=produce)
        worker.start()
        worker.join()  # the producer never waited on the UI
        for _ in range(50):
            await pilot.pause(0.02)
            if app.chat.reply_text == "".join(words):
                break
        assert app.chat.reply_text == "".join(words)
        await app.chat.stop_stream()


async def test_escape_stops_a_batched_stream_at_once(tmp_path: Path, monkeypatch):
    settings = make_settings(tmp_path, offline_token_delay_ms=30)
    service = ChatService(settings)
    cancelled: list[str] = []
    real_cancel = service.cancel

    def cancel(thread_id: str) -> None:
        cancelled.append(thread_id)
        real_cancel(thread_id)

    monkeypatch.setattr(service, "cancel", cancel)
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await start_long_reply(pilot)
            await pilot.press("escape")
            # The stop reached the service with the key press, not after the buffer.
            assert cancelled == [app.current_id]
            await settle(pilot)
            tid = service.list_threads()[0].id
            last = service.load_messages(tid)[-1]
            assert last.role == "assistant" and last.status == "stopped"
            shown_equals_stored(app, service, tid)
            assert app.reply_thread is None
    finally:
        service.close()


async def test_rewind_shows_the_chosen_point_and_the_new_branch(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "first question")
        await send(pilot, "second question")
        tid = service.list_threads()[0].id
        target = service.branch_timeline(tid)[-2]  # the first reply
        assert target.kind == "assistant"
        app.rewind_to(target.id)
        await settle(pilot)
        shown_equals_stored(app, service, tid)
        assert [m.role for m in app.chat.lines.messages] == ["user", "assistant"]
        pane = app.query_one(HistoryPane)
        assert pane.history is not None and pane.history.head_id == service.history(tid).head_id
        assert any(r.is_fork for r in pane.rows)


@pytest.mark.parametrize("window", [12])
async def test_history_shows_the_newest_checkpoints_and_loads_earlier_ones(
    app_factory, service, monkeypatch, window
):
    monkeypatch.setattr(history_area, "HISTORY_WINDOW", window)
    tid = service.create_thread("many turns").id
    for i in range(8):
        list(service.send(tid, f"question {i}"))
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_thread(tid)
        await settle(pilot)
        pane = app.query_one(HistoryPane)
        assert pane.history is not None and not pane.history.complete
        assert len(pane.history.checkpoints) == window
        assert pane.rows[0].is_more
        labels = "\n".join(r.text.plain for r in pane.rows)
        assert "you: question 7" in labels and "you: question 0" not in labels
        # The chat itself always has the whole conversation.
        assert len(app.chat.lines.messages) == 16
        app.query_one(TimelineList).focus()
        app.query_one(TimelineList).highlighted = 0
        await pilot.press("enter")
        await settle(pilot)
        assert pane.history.complete
        labels = "\n".join(r.text.plain for r in pane.rows)
        assert "you: question 0" in labels
        assert not pane.rows[0].is_more
        # Showing earlier entries is not a preview: the chat still shows the latest.
        assert app.preview_id is None
        # A reply now keeps the whole listing (the person asked for it).
        await send(pilot, "one more")
        assert pane.history.complete
        assert "you: question 0" in "\n".join(r.text.plain for r in pane.rows)


async def test_full_collections_wait_for_the_reply_and_come_back_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While a reply streams, only young objects are collected (a full one
    # stalled the stream for 25-100 ms); after it, garbage collection is as
    # before and the held-back full collection has run: nothing piles up.
    monkeypatch.setattr(reply_area, "FULL_GC_AFTER_REPLY_S", 0.05)
    normal = gc.get_threshold()
    settings = make_settings(tmp_path, offline_token_delay_ms=20)
    service = ChatService(settings)
    app = make_app(settings, service, poll_interval_s=3600, warm_up_delay_s=0)
    full: list[int] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(1)

    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await start_long_reply(pilot)
        assert app.reply_thread is not None
        assert gc.get_threshold()[2] > normal[2]
        gc.callbacks.append(on_gc)
        try:
            await pilot.press("escape")  # a stopped reply ends the same way
            for _ in range(1000):
                await pilot.pause(0.02)
                if app.reply_thread is None and gc.get_threshold() == normal:
                    break
            assert app.reply_thread is None
            assert gc.get_threshold() == normal
            assert full
        finally:
            gc.callbacks.remove(on_gc)
    service.close()
