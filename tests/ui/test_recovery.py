"""A reply that did not finish: banner with Resume / Discard, and the Retry button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.outputs import ChatGenerationChunk

from chat_app.service import ChatService
from chat_app.ui.app import make_app
from graphs.errors import ModelCallError
from graphs.offline import OfflineChatModel
from tests.ui.conftest import make_settings, screen_text
from tests.ui.test_chat import settle

BROKEN = {"on": True}


class BreakingModel(OfflineChatModel):
    """Streams three tokens, then fails for good (not worth retrying) while BROKEN."""

    def _chunks(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for i, chunk in enumerate(super()._chunks(*args, **kwargs)):
            if i == 3 and BROKEN["on"]:
                raise ModelCallError("the model server went away", transient=False)
            yield chunk


def interrupted_thread(settings) -> str:
    broken = ChatService(settings, model_factory=lambda s: (BreakingModel(), None))
    try:
        tid = broken.create_thread("Interrupted").id
        events = list(broken.send(tid, "My name is Alice"))
        assert type(events[-1]).__name__ == "ReplyFailed"
        return tid
    finally:
        broken.close()


async def test_resume_banner_after_interrupted_run(tmp_path: Path):
    settings = make_settings(tmp_path)
    tid = interrupted_thread(settings)
    service = ChatService(settings)
    try:
        assert [p.thread_id for p in service.pending_runs()] == [tid]
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert app.current_id == tid
            shown = screen_text(app)
            assert "did not finish" in shown
            assert "Written so far" in shown
            # The button names the key that resumes from anywhere.
            assert "Resume (ctrl+g)" in shown
            assert app.status.state == "interrupted"
            await pilot.click("#recovery-resume")
            await settle(pilot)
            msgs = service.load_messages(tid)
            assert [m.role for m in msgs] == ["user", "assistant"]
            assert service.pending_runs() == []
            assert "did not finish" not in screen_text(app)
    finally:
        BROKEN["on"] = True
        service.close()


async def test_discard_drops_the_interrupted_turn(tmp_path: Path):
    settings = make_settings(tmp_path)
    tid = interrupted_thread(settings)
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.click("#recovery-discard")
            await settle(pilot)
            assert service.pending_runs() == []
            assert service.load_messages(tid) == []
            # The banner is gone; what is typed next lands in the message box.
            await pilot.press(*"hi")
            assert app.chat_input.value == "hi"
    finally:
        BROKEN["on"] = True
        service.close()


async def test_auto_resume(tmp_path: Path):
    settings = make_settings(tmp_path)
    tid = interrupted_thread(settings)
    auto = make_settings(tmp_path)
    from dataclasses import replace

    auto = replace(auto, recovery=replace(auto.recovery, auto_resume=True))
    service = ChatService(auto)
    try:
        app = make_app(auto, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await settle(pilot)
            assert [m.role for m in service.load_messages(tid)] == ["user", "assistant"]
    finally:
        BROKEN["on"] = True
        service.close()


async def test_failed_reply_shows_inline_retry(tmp_path: Path):
    settings = make_settings(tmp_path)
    service = ChatService(settings, model_factory=lambda s: (BreakingModel(), None))
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.click("#chat-input")
            await pilot.press(*"hello", "enter")
            await settle(pilot)
            shown = screen_text(app)
            assert "The reply failed: the model server" in shown and "went away" in shown
            assert app.status.state == "failed"
            # Fix the model, then Retry finishes the same turn.
            BROKEN["on"] = False
            await pilot.click("#failure-retry")
            await settle(pilot)
            tid = service.list_threads()[0].id
            assert [m.role for m in service.load_messages(tid)] == ["user", "assistant"]
            assert "The reply failed" not in screen_text(app)
    finally:
        BROKEN["on"] = True
        service.close()


async def test_a_failed_reply_can_be_discarded_and_typing_goes_to_the_box(tmp_path: Path):
    settings = make_settings(tmp_path)
    service = ChatService(settings, model_factory=lambda s: (BreakingModel(), None))
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.click("#chat-input")
            await pilot.press(*"hello", "enter")
            await settle(pilot)
            assert "Discard" in screen_text(app)
            await pilot.click("#failure-discard")
            await settle(pilot)
            tid = service.list_threads()[0].id
            assert service.load_messages(tid) == []
            assert service.pending_runs() == []
            # The next keys land in the message box.
            await pilot.press(*"again")
            assert app.chat_input.value == "again"
    finally:
        BROKEN["on"] = True
        service.close()


async def test_after_the_banner_typing_goes_to_the_box_and_ctrl_g_resumes(tmp_path: Path):
    settings = make_settings(tmp_path)
    tid = interrupted_thread(settings)
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert "did not finish" in screen_text(app)
            # ctrl+g on a message without a reply writes that reply (no fork).
            await pilot.press("ctrl+g")
            await settle(pilot)
            assert [m.role for m in service.load_messages(tid)] == ["user", "assistant"]
            assert (
                len(service.history(tid).checkpoints)
                == len([c for c in service.branch_timeline(tid)])
                or service.pending_runs() == []
            )
            await pilot.press(*"next")
            assert app.chat_input.value == "next"
    finally:
        BROKEN["on"] = True
        service.close()


async def test_the_palette_offers_resume_and_discard(tmp_path: Path):
    settings = make_settings(tmp_path)
    tid = interrupted_thread(settings)
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+p")
            await pilot.press(*"discard unfinished")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await settle(pilot)
            assert service.load_messages(tid) == []
            assert service.pending_runs() == []
    finally:
        BROKEN["on"] = True
        service.close()
