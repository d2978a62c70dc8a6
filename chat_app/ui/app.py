"""The chat app: its screen, key bindings, start-up, and the chat's own actions.

The app receives its ChatService. Every service call runs in a thread worker
(the service blocks); results come back with ``call_from_thread`` and only
then touch widgets. Widgets post messages up; the app sets attributes down.
The handlers of each area (threads, the reply, history, profile, recovery,
the panels' layout) live in chat_app/ui/areas/, and ``ChatApp`` inherits them.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from datetime import tzinfo
from typing import Any, ClassVar, NamedTuple

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static, TabbedContent, TabPane, TextArea
from textual.worker import Worker, WorkerState

from chat_app.config import Settings
from chat_app.safe_text import to_terminal
from chat_app.service import ChatService, PendingRun
from chat_app.service.events import ChatMessage, ThreadInfo
from chat_app.service.outbox import Unsent
from chat_app.ui import panels
from chat_app.ui.areas import history
from chat_app.ui.areas.base import AGENT_WARM_UP_DELAY_S, Opened, W, error_text
from chat_app.ui.areas.layout import LayoutArea, fitting_panels
from chat_app.ui.areas.profile import ProfileArea
from chat_app.ui.areas.recovery import RecoveryArea
from chat_app.ui.areas.reply import ReplyArea
from chat_app.ui.areas.threads import ThreadsArea
from chat_app.ui.commands import ChatCommands
from chat_app.ui.markdown_text import code_blocks
from chat_app.ui.screens.help import HelpScreen, key_sections
from chat_app.ui.screens.text_prompt import TextPromptScreen
from chat_app.ui.screens.text_view import TextViewScreen
from chat_app.ui.themes import unknown_theme_warning
from chat_app.ui.widgets.chat_view import ChatView
from chat_app.ui.widgets.key_bar import KeyBar
from chat_app.ui.widgets.message_box import MessageBox
from chat_app.ui.widgets.message_lines import MessageLines
from chat_app.ui.widgets.recovery_banner import RecoveryBanner
from chat_app.ui.widgets.status_line import StatusLine
from chat_app.ui.widgets.thread_sidebar import ThreadSidebar
from chat_app.ui.widgets.title_bar import TitleBar


class StartUp(NamedTuple):
    """What the start-up worker read: the listing, interrupted replies, the first
    thread, and messages a stopped app had not saved."""

    threads: list[ThreadInfo]
    pending: list[PendingRun]
    first: Opened | None
    unsent: list[Unsent]


def hidden(widget: W, hide: bool = True) -> W:
    """``widget``, not displayed when ``hide``: for compose, before the first layout."""
    widget.display = not hide
    return widget


class ChatApp(ThreadsArea, ReplyArea, history.HistoryArea, ProfileArea, RecoveryArea, LayoutArea):
    """A terminal chat app whose conversations survive anything."""

    CSS_PATH = "app.tcss"
    TITLE = "chat-app"
    COMMANDS = App.COMMANDS | {ChatCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (130, "-wide")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_thread", "New", priority=True),
        Binding("f2", "rename_thread", "Rename"),
        Binding("f8", "delete_thread", "Delete"),
        Binding("escape", "escape", "Stop/Back"),
        Binding("ctrl+g", "regenerate", "Regenerate", priority=True),
        Binding("ctrl+y", "copy_reply", "Copy reply", priority=True),
        Binding("f6", "copy_code", "Copy code"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", priority=True),
        Binding("ctrl+o", "toggle_side_panel", "Panel", priority=True),
        Binding("ctrl+t", "focus_threads", "Threads", show=False, priority=True),
        Binding("f3", "focus_history", "History", show=False, priority=True),
        Binding("f4", "focus_profile", "Profile", show=False, priority=True),
        Binding("f1", "help", "Help", show=False),
        Binding("question_mark", "help('?')", "Help", show=False),
    ]

    # -- the screen -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Building the screen makes tens of thousands of long-lived objects
        # (widgets, styles, the thread list): collecting while they are made
        # was ~40 ms of start-up spent finding nothing. Paused until the first
        # listing is shown; they are frozen then (see _started).
        gc.disable()
        ui = self.settings.ui
        # The screen as the person left it (the config gives the first look).
        self._choices = self._read_choices()
        show_sidebar = self._choices.get("sidebar", "shown" if ui.show_sidebar else "") == "shown"
        show_panel = self._choices.get("panel", "shown" if ui.show_side_panel else "") == "shown"
        self._wants = {"sidebar": show_sidebar, "panel": show_panel}
        # Panels that would squeeze the chat step aside (see _fit_panels).
        show_sidebar, show_panel = fitting_panels(self.size.width, show_sidebar, show_panel)
        tab = self._choices.get("tab", "")
        yield TitleBar(self.TITLE, id="title-bar")
        with Horizontal(id="main"):
            # What starts hidden is hidden before the first layout, not after it
            # (setting it in on_mount laid the whole screen out again).
            yield hidden(ThreadSidebar(clock=self.clock, id="sidebar"), not show_sidebar)
            with Vertical(id="chat-column"):
                yield hidden(RecoveryBanner(id="recovery-banner"))
                yield hidden(Static(Text(history.PREVIEW_NOTICE), id="preview-notice"))
                yield ChatView(id="chat-view")
                yield MessageBox(id="chat-input")
            initial = tab if tab in ("tab-history", "tab-profile") else ""
            with hidden(TabbedContent(id="side-panel", initial=initial), not show_panel):
                with TabPane("History", id="tab-history"):
                    yield panels.make_history_pane(self.history_tz)
                with TabPane("Profile", id="tab-profile"):
                    yield panels.make_profile_panel(self.history_tz)
        yield StatusLine(id="status-line")
        yield KeyBar(id="key-bar")

    def _read_choices(self) -> dict[str, str]:
        try:
            return self.service.session.get_choices()
        except Exception:  # a session that cannot be read is only a default look
            return {}

    def on_mount(self) -> None:
        theme = self._choices.get("theme", self.settings.ui.theme)
        if theme not in self.available_themes:
            theme = self.settings.ui.theme
        if theme in self.available_themes:
            self.theme = theme
        else:
            warning = unknown_theme_warning(self.settings.ui.theme, self.available_themes)
            self.notify(warning, severity="warning", markup=False, timeout=10)
        self.watch(self, "theme", self._theme_changed, init=False)
        # Through the cache: a timer firing while the app shuts down finds it.
        status = self.status
        status.model_name = self.service.model_name
        status.backend = self.service.backend_name
        if status.backend == "memory":
            status.backend = "memory: nothing is saved"
        self.main_screen.query_one("#chat-input", MessageBox).focus()
        self._start_up()
        self.set_interval(self.poll_interval_s, self.poll_threads)
        self.set_interval(0.5, self._tick_retry)
        # Which keys do something (Esc) changes with the reply's state.
        self.watch(status, "state", lambda _: self.refresh_bindings(), init=False)

    # -- worker failures ------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The one place where worker failures become something a person can read.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(error_text(event.worker.error), severity="error", markup=False)
        if event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "startup":
            gc.enable()  # paused in compose; _started will not run
            self._started_up = True
            held, self._held_for_start = self._held_for_start, None
            self._give_back(held)
        if event.worker is self._creating:
            # No new thread: a message held for it goes back in the box.
            self._creating = None
            held, self._send_when_created = self._send_when_created, None
            self._give_back(held)

    # -- start-up and shut-down ------------------------------------------------------

    def _start_up(self) -> None:
        def load() -> StartUp:
            threads = self.service.list_threads()
            pending = self.service.pending_runs()
            remembered = self.service.session.get_open_thread()
            # The session remembers which thread was open; an interrupted one comes first.
            last_open = remembered
            if last_open not in {t.id for t in threads}:
                last_open = threads[0].id if threads else None
            first = pending[0].thread_id if pending else last_open
            unsent = self.service.unsent_messages(default_thread=first)
            return StartUp(threads, pending, self._read_first(first, first == remembered), unsent)

        self.call_service(load, self._started, group="startup")

    def _read_first(self, thread_id: str | None, remembered: bool) -> Opened | None:
        """The first thread, read in the start-up worker: the listing and the open
        conversation reach the screen together, in one layout."""
        if thread_id is None:
            return None
        try:
            loaded = self._read_thread(thread_id, history.HISTORY_WINDOW)
            draft = self.service.session.get_draft(thread_id)
        except Exception:  # opening it again, in its own worker, says why
            return Opened(thread_id, remembered)
        return Opened(thread_id, remembered, loaded, draft)

    def _started(self, loaded: StartUp) -> None:
        threads, pending, first, unsent = loaded
        self._started_up = True
        self.sidebar.threads = threads
        if self.warm_up_delay_s > 0:
            self.set_timer(self.warm_up_delay_s, self.warm_up)
        else:
            self.warm_up()
        self.pending = {p.thread_id: p for p in pending}
        typed = self._return_unsent(unsent, first.thread_id if first else None)
        if first is not None:
            self.open_thread(first.thread_id, read=first, typed=typed or None)
        else:
            self.chat_input.value = typed
            self.chat.show_messages([])  # how to start
        held, self._held_for_start = self._held_for_start, None
        if pending and self.settings.recovery.auto_resume:
            self._after_resume = held
            self.resume_all([p.thread_id for p in pending])
        elif held is not None:
            self._send_held(held)
        # Start-up made ~100,000 long-lived objects (imports, widgets); each full
        # collection scanned them all (60-90 ms of frozen UI, every other 2 s poll
        # at 10,000 threads). Frozen, a full collection costs a few ms.
        gc.freeze()
        gc.enable()  # paused in compose

    def on_unmount(self) -> None:
        gc.unfreeze()  # frozen at start-up (see _started)
        gc.enable()  # paused in compose, should start-up not have finished
        gc.set_threshold(*self._gc_threshold)  # raised while a reply streams
        # Keep the unsent text for the next session (the short-term tier has a TTL).
        # Never let a cache (or a half-torn-down screen) stop the app quitting.
        with contextlib.suppress(Exception):
            if self.current_id is not None:
                self.service.session.set_draft(self.current_id, self.chat_input.value)

    # -- chat actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "escape":
            # Shown (and bound) only when it does something.
            return (
                self.reply_thread is not None
                or self.preview_id is not None
                or not isinstance(self.focused, MessageBox)
            )
        # "?" is typed in a text box (F1 opens help from anywhere).
        typing = isinstance(self.focused, (Input, TextArea))
        return not (action == "help" and parameters and typing)

    def action_help(self, _key: str = "") -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(key_sections(self)))

    def action_escape(self) -> None:
        if self.reply_thread is not None:
            # cancel() only sets an event: safe and instant on the UI thread.
            self.service.cancel(self.reply_thread)
            return
        if self.preview_id is not None:
            self.reload_thread()
            self.chat_input.focus()
            return
        if self.focused is not self.chat_input:
            self.chat_input.focus()

    def copy_to_clipboard(self, text: str) -> None:
        """Every copy goes to the terminal as OSC 52 and is pasted from there:
        ``ESC[201~`` in a copied reply would end a bracketed paste and run the
        rest in a shell, so the text leaves through ``to_terminal``."""
        super().copy_to_clipboard(to_terminal(text))

    @on(MessageLines.CopyRequested)
    def _copy_requested(self, event: MessageLines.CopyRequested) -> None:
        self.copy_to_clipboard(event.text)
        self.notify(f"Copied the {event.what} to the clipboard.")

    def _last_reply(self) -> ChatMessage | None:
        messages = self.chat.lines.messages
        return next((m for m in reversed(messages) if m.role == "assistant"), None)

    def action_show_summary(self) -> None:
        """The running summary of the open thread (what the model sees of its start)."""
        tid = self.current_id
        if tid is None:
            return

        def shown(found: Any) -> None:
            if found is None:
                self.notify("No summary: the whole thread fits in the model's context.")
                return
            by = "written by the model" if found.by == "model" else "extracted by rules"
            title = f"Summary of the first {found.covers} messages ({by})"
            self.push_screen(TextViewScreen(title, found.text))

        self.call_service(lambda: self.service.history_summary(tid), shown)

    def action_copy_reply(self) -> None:
        if (m := self._last_reply()) is None:
            self.notify("No reply to copy yet.")
            return
        self.copy_to_clipboard(m.text)
        self.notify("Copied the last reply to the clipboard.")

    def action_copy_code(self) -> None:
        m = self.chat.lines.selected_message or self._last_reply()
        blocks = code_blocks(m.text) if m is not None else []
        if not blocks:
            self.notify("No code block to copy.")
            return
        self.copy_to_clipboard(blocks[-1])
        self.notify("Copied the code block to the clipboard.")

    # -- the model ---------------------------------------------------------------------

    def action_switch_model(self, name: str = "") -> None:
        def switch(chosen: str | None) -> None:
            if not chosen:
                return
            chosen = chosen.strip()
            self.call_service(
                lambda: self.service.switch_model(chosen), lambda _: self._model_switched()
            )

        if name:
            switch(name)
        else:
            self.push_screen(
                TextPromptScreen("Model (offline, or openai:<model>)", "openai:"), switch
            )

    def _model_switched(self) -> None:
        self.status.model_name = self.service.model_name
        self.notify(f"Now using {self.service.model_name}", markup=False)

    # -- long threads ------------------------------------------------------------------------

    @on(ChatView.NearTop)
    def _near_top(self) -> None:
        self.chat.load_older()


def make_app(
    settings: Settings,
    service: ChatService,
    *,
    clock: Callable[[], float] = time.time,
    poll_interval_s: float = 2.0,
    history_tz: tzinfo | None = None,
    warm_up_delay_s: float = AGENT_WARM_UP_DELAY_S,
) -> ChatApp:
    """The one way to build the app: CLI, tests and snapshots all use it.

    ``clock`` and ``history_tz`` exist so tests and snapshots are deterministic.
    """
    return ChatApp(
        settings,
        service,
        clock=clock,
        poll_interval_s=poll_interval_s,
        history_tz=history_tz,
        warm_up_delay_s=warm_up_delay_s,
    )


def run_app(settings: Settings, service: ChatService) -> int:
    """Run the TUI until the person quits; the exit code for the CLI."""
    from chat_app.ui import input_guard

    input_guard.install()
    app = make_app(settings, service)
    result = app.run()
    return result if isinstance(result, int) else 0
