"""The recovery area: what a crash or a failure left behind. Messages the app
had not saved come back into the box; interrupted replies are resumed (at
start-up, or from the banner and the failure notice) or discarded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from textual import on

from chat_app.service import ServiceError
from chat_app.service.events import Event
from chat_app.service.outbox import Unsent
from chat_app.ui.areas.base import ChatAppBase, Held
from chat_app.ui.widgets.failure_notice import FailureNotice
from chat_app.ui.widgets.recovery_banner import RecoveryBanner

UNSENT_NOTICE = "Not sent before the app stopped: your message is back in the box."


class RecoveryArea(ChatAppBase):
    """Unsent messages given back; interrupted replies resumed or discarded."""

    def _return_unsent(self, unsent: list[Unsent], first: str | None) -> str:
        """Messages a stopped app had not saved, back as drafts of their threads;
        what the box of the first thread shown holds: the draft given back to
        it, then what was typed while the app started."""
        by_thread: dict[str | None, list[str]] = {}
        for u in unsent:
            by_thread.setdefault(u.thread_id, []).append(u.text)
        typed = self.chat_input.value
        for tid, texts in by_thread.items():
            text = " ".join(texts)
            if tid == first:
                typed = f"{text} {typed}" if typed else text
            else:
                self.drafts[cast(str, tid)] = text
        if unsent:
            self.notify(UNSENT_NOTICE, severity="warning", timeout=10)
        return typed

    def _give_back(self, held: Held | None, why: str = "") -> None:
        """A held message that will not be sent goes back into the box."""
        if held is None:
            return
        if why:
            self.notify(f"Not sent: {why}", severity="error", markup=False)
        if self.chat_input.value:
            # Something new was typed meanwhile: the outbox keeps the message
            # (still marked as being sent), and the next start gives it back.
            return
        self.chat_input.value = held.text
        self.call_service(lambda: self.service.give_back(held.message_id), group="outbox")

    def resume_all(self, thread_ids: list[str]) -> None:
        """Auto-resume: finish each interrupted reply, one after another."""

        def events() -> Iterator[Event]:
            for tid in thread_ids:
                try:
                    yield from self.service.resume(tid)
                except ServiceError:
                    continue

        self.main_screen.query_one(RecoveryBanner).hide()
        self.start_reply(thread_ids[0], events)

    @on(RecoveryBanner.ResumeChosen)
    @on(FailureNotice.RetryChosen)
    def action_resume_reply(self) -> None:
        """Finish the open thread's unfinished reply (after a crash or a failure)."""
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return
        if tid not in self.pending and not self.chat.query_one(FailureNotice).display:
            self.notify("Nothing to resume: the last reply finished.")
            return
        self.pending.pop(tid, None)
        self.main_screen.query_one(RecoveryBanner).hide()
        self.chat_input.focus()
        self.start_reply(tid, lambda: self.service.resume(tid))

    @on(RecoveryBanner.DiscardChosen)
    @on(FailureNotice.DiscardChosen)
    def action_discard_reply(self) -> None:
        """Drop the open thread's unfinished turn (it stays in History)."""
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return
        if tid not in self.pending and not self.chat.query_one(FailureNotice).display:
            self.notify("Nothing to discard: the last reply finished.")
            return
        self.pending.pop(tid, None)
        self.main_screen.query_one(RecoveryBanner).hide()
        self.chat.hide_failure()
        self.chat_input.focus()
        self.call_service(lambda: self.service.discard(tid), lambda _: self.reload_thread())
