"""The threads area: the sidebar's listing, opening a thread (its chat, its
draft), and creating, renaming, deleting and exporting threads."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on

from chat_app.safe_text import is_blank
from chat_app.service.events import ThreadInfo
from chat_app.ui.areas.base import ChatAppBase, Loaded, Opened
from chat_app.ui.format import title_text
from chat_app.ui.screens.confirm import ConfirmScreen
from chat_app.ui.screens.text_prompt import TextPromptScreen
from chat_app.ui.widgets.message_box import MessageBox
from chat_app.ui.widgets.recovery_banner import RecoveryBanner
from chat_app.ui.widgets.thread_sidebar import ThreadSidebar
from chat_app.ui.widgets.title_bar import TitleBar

# The text in the message box is kept this long after the last key.
DRAFT_SAVE_DELAY_S = 1.0


class ThreadsArea(ChatAppBase):
    """The thread list, the open thread and its draft."""

    def poll_threads(self) -> None:
        """Refresh the sidebar (cheap indexed query), e.g. threads from other windows."""
        if self._poll_worker is not None and self._poll_worker.is_running:
            return
        query = self._query

        def listed(threads: list[ThreadInfo]) -> None:
            # A cancelled thread worker still returns: drop a listing for an older filter.
            if query == self._query:
                self._threads_listed(threads)

        def poll() -> list[ThreadInfo] | None:
            # The stamp query is tiny; list 10,000 threads only when it moved.
            stamp = (query, self.service.threads_stamp())
            if stamp == self._poll_stamp:
                return None
            self._poll_stamp = stamp
            return self.service.list_threads(query=query)

        def maybe_listed(threads: list[ThreadInfo] | None) -> None:
            if threads is not None:
                listed(threads)

        self._poll_worker = self.call_service(poll, maybe_listed, group="poll")

    def _threads_listed(self, threads: list[ThreadInfo]) -> None:
        # Unchanged listing (the usual 2 s poll): the sidebar compares a key, nothing redraws.
        self.sidebar.threads = threads
        if self.current_id is not None:
            info = next((t for t in threads if t.id == self.current_id), None)
            if info is not None and info != self.current_info:
                self._set_current_info(info)

    def _show_no_thread(self) -> None:
        """The open thread is gone: nothing of it stays on screen (title,
        status line, chat, History)."""
        self.current_id = None
        self.current_info = None
        self.sidebar.current_id = None
        self.status.thread_title = ""
        self.status.usage = ""
        self._main_widget("title", "TitleBar", TitleBar).thread_title = ""
        self.chat.show_messages([])
        self.history = None
        pane = self._panel("history-pane")
        if pane is not None:
            pane.history = None  # type: ignore[attr-defined]

    def _set_current_info(self, info: ThreadInfo) -> None:
        self.current_info = info
        self.status.thread_title = info.title
        self._main_widget("title", "TitleBar", TitleBar).thread_title = info.title

    @on(ThreadSidebar.FilterChanged)
    def _filter(self, event: ThreadSidebar.FilterChanged) -> None:
        self._query = event.query
        if self._poll_worker is not None and self._poll_worker.is_running:
            self._poll_worker.cancel()
        self._poll_worker = None
        self.poll_threads()

    @on(ThreadSidebar.ThreadSelected)
    def _thread_selected(self, event: ThreadSidebar.ThreadSelected) -> None:
        self.open_thread(event.thread_id)

    @on(ThreadSidebar.RenameRequested)
    def _rename_requested(self, event: ThreadSidebar.RenameRequested) -> None:
        self.rename_thread(event.thread_id)

    @on(ThreadSidebar.DeleteRequested)
    def _delete_requested(self, event: ThreadSidebar.DeleteRequested) -> None:
        self.delete_thread(event.thread_id)

    def open_thread(
        self,
        thread_id: str,
        *,
        select_message: str | None = None,
        typed: str | None = None,
        read: Opened | None = None,
    ) -> None:
        """Show ``thread_id``. ``typed``: what the message box holds is this thread's
        (written for it before it existed), not a draft of the thread being left.
        ``read``: the thread as the start-up worker read it."""
        loaded = read.loaded if read is not None else None
        if self.current_id is not None and self.current_id != thread_id and typed is None:
            self._keep_draft(self.current_id, self.chat_input.value)
        if self.current_id != thread_id:
            self.chat_input.value = self.drafts.get(thread_id, "") if typed is None else typed
            if thread_id not in self.drafts and not typed and loaded is None:
                # A draft from an earlier session (kept by the short-term tier).
                self.call_service(
                    lambda: self.service.session.get_draft(thread_id),
                    partial(self._restore_draft, thread_id),
                    group="draft",
                )
            if read is None or not read.remembered:
                self.call_service(
                    lambda: self.service.session.set_open_thread(thread_id), group="session"
                )
        self.current_id = thread_id
        self.sidebar.current_id = thread_id
        self._leave_preview_ui()
        self.main_screen.query_one(RecoveryBanner).hide()
        if read is not None and loaded is not None:
            self._restore_draft(thread_id, read.draft)
            self._thread_loaded(thread_id, select_message, loaded)
            return

        newest = self._history_window(thread_id)
        self.call_service(
            lambda: self._read_thread(thread_id, newest),
            partial(self._thread_loaded, thread_id, select_message),
            group="load",
            exclusive=True,
        )

    def _read_thread(self, thread_id: str, newest: int | None) -> Loaded:
        """What showing a thread needs, read in one worker: the chat and its
        history (a bounded read) change in one frame, so the screen is laid
        out once, not twice."""
        return (
            self.service.get_thread(thread_id),
            self.service.load_messages(thread_id),
            self.service.history(thread_id, newest=newest),
            self.service.summary_mark(thread_id),
        )

    def _keep_draft(self, thread_id: str, text: str) -> None:
        self.drafts[thread_id] = text
        self.call_service(lambda: self.service.session.set_draft(thread_id, text), group="session")

    def _restore_draft(self, thread_id: str, text: str) -> None:
        if text and self.current_id == thread_id and not self.chat_input.value:
            self.drafts[thread_id] = text
            self.chat_input.value = text

    def _thread_loaded(
        self,
        thread_id: str,
        select_message: str | None,
        loaded: Loaded,
    ) -> None:
        if thread_id != self.current_id:
            return
        info, messages, history, summary = loaded
        self._set_current_info(info)
        if self.reply_thread == thread_id and self.chat.streaming:
            return  # the live reply stays on screen; it is reloaded when it ends
        self.chat.show_messages(messages, summary=summary)
        self._history_if_current(history)
        run = self.pending.get(thread_id)
        if run is not None and self.reply_thread != thread_id:
            self.main_screen.query_one(RecoveryBanner).show(run.user_text, run.partial)
            self.status.state = "interrupted"
        elif self.reply_thread is None:
            self.status.state = "idle"
        if select_message is not None and not self.chat.lines.select_message(select_message):
            self.notify("That message is not on the current branch.", severity="warning")
        held, self._send_after_load = self._send_after_load, None
        if held is not None:
            self._send_held(held)

    def reload_thread(self) -> None:
        if self.current_id is not None:
            self.open_thread(self.current_id)

    @on(MessageBox.Changed, "#chat-input")
    def _typing(self, event: MessageBox.Changed) -> None:
        if event.text_area.text:
            self.warm_up()
        # The draft is kept a moment after typing stops: a crash loses at most that.
        if self._draft_timer is None:
            self._draft_timer = self.set_timer(DRAFT_SAVE_DELAY_S, self._save_draft)
        else:
            self._draft_timer.reset()

    def _save_draft(self) -> None:
        self._draft_timer = None
        tid = self.current_id
        if tid is not None and self.drafts.get(tid, "") != self.chat_input.value:
            self._keep_draft(tid, self.chat_input.value)

    def action_new_thread(self) -> None:
        # What is typed or sent from now on is for the new thread: the text in
        # the box stays with the thread being left, and nothing typed or sent
        # while the new one is created is lost or sent to the old one.
        if self._creating is not None:
            return
        reuse, typed = self.current_id, self.chat_input.value
        if reuse is not None:
            self._keep_draft(reuse, typed)
        self.chat_input.value = ""

        def created(info: ThreadInfo) -> None:
            self._creating = None
            held, self._send_when_created = self._send_when_created, None
            if held is not None:
                # As for a first message: no load of the (empty) thread, whose
                # result would replace the message shown while it is sent.
                self._created_then_send(held, info)
            elif info.id == reuse:
                # The open thread was empty and untitled already: it is the new one.
                if not self.chat_input.value:
                    self.chat_input.value = typed
            else:
                self.open_thread(info.id, typed=self.chat_input.value)
                self.chat.show_messages([])
                self.poll_threads()
            self.chat_input.focus()

        self._creating = self.call_service(lambda: self.service.new_thread(reuse), created)

    def action_rename_thread(self) -> None:
        if self.current_id is not None:
            self.rename_thread(self.current_id)

    def rename_thread(self, thread_id: str) -> None:
        info = next((t for t in self.sidebar.threads if t.id == thread_id), None)

        def renamed(title: str | None) -> None:
            if title is None or is_blank(title):
                return
            self.call_service(
                lambda: self.service.rename_thread(thread_id, title),
                lambda _: self.poll_threads(),
            )

        self.push_screen(
            TextPromptScreen("Rename thread", info.title if info else "", confirm_label="Rename"),
            renamed,
        )

    def action_delete_thread(self) -> None:
        if self.current_id is not None:
            self.delete_thread(self.current_id)

    def delete_thread(self, thread_id: str) -> None:
        info = next((t for t in self.sidebar.threads if t.id == thread_id), None)
        question = Text("Delete the thread “")
        question.append_text(title_text(info.title if info else ""))
        question.append("” and its whole history? This cannot be undone.")

        def deleted(_: None) -> None:
            self.drafts.pop(thread_id, None)
            self.pending.pop(thread_id, None)
            if self.current_id == thread_id:
                self._show_no_thread()
            self.poll_threads()

        def answered(yes: bool | None) -> None:
            if yes:
                self.call_service(lambda: self.service.delete_thread(thread_id), deleted)

        self.push_screen(ConfirmScreen(question, "Delete"), answered)

    def action_export(self) -> None:
        tid = self.current_id
        if tid is None:
            return

        def export() -> Path:
            text = self.service.export_thread(tid, "md")
            path = Path.cwd() / f"chat-{tid[:8]}.md"
            path.write_text(text, encoding="utf-8")
            return path

        self.call_service(
            export, lambda p: self.notify(f"Exported to {p}", markup=False), group="export"
        )
