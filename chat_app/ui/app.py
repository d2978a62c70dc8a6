"""The chat app: layout, key bindings, and the flow between service and widgets.

The app receives its ChatService. Every service call runs in a thread worker
(the service blocks); results come back with ``call_from_thread`` and only
then touch widgets. Widgets post messages up; the app sets attributes down.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from datetime import tzinfo
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar, cast

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static, TabbedContent, TabPane, TextArea
from textual.worker import Worker, WorkerState

from chat_app.config import Settings
from chat_app.core.events import (
    ChatMessage,
    Event,
    History,
    ProfileNotUpdated,
    ProfileUpdated,
    ReplyFailed,
    ReplyFinished,
    Retrying,
    ThreadBusy,
    ThreadChanged,
    ThreadInfo,
    Token,
    UserMessageSaved,
)
from chat_app.core.outbox import Unsent
from chat_app.core.service import ChatService, PendingRun, ServiceError
from chat_app.safe_text import is_blank, one_line, to_display, to_terminal
from chat_app.ui import panels
from chat_app.ui.commands import ChatCommands
from chat_app.ui.format import title_text
from chat_app.ui.screens.confirm import ConfirmScreen
from chat_app.ui.screens.help import HelpScreen, key_sections
from chat_app.ui.screens.text_prompt import TextPromptScreen
from chat_app.ui.screens.text_view import TextViewScreen
from chat_app.ui.themes import unknown_theme_warning
from chat_app.ui.widgets.chat_view import ChatView
from chat_app.ui.widgets.failure_notice import FailureNotice
from chat_app.ui.widgets.key_bar import KeyBar
from chat_app.ui.widgets.message_box import MessageBox
from chat_app.ui.widgets.message_lines import MessageLines, code_blocks, prepare_rendering
from chat_app.ui.widgets.profile_panel import forgot_notice
from chat_app.ui.widgets.recovery_banner import RecoveryBanner
from chat_app.ui.widgets.status_line import StatusLine
from chat_app.ui.widgets.thread_sidebar import ThreadSidebar
from chat_app.ui.widgets.title_bar import TitleBar

T = TypeVar("T")
W = TypeVar("W", bound=Widget)

# Checkpoints read for the history pane when a thread opens (~2.5 per turn);
# earlier ones are read when the person asks for them.
HISTORY_WINDOW = 600
# Collections of the middle generation between two full collections while a
# reply streams (the default is 10): in effect, none until it ends; then one,
# this long after it.
FULL_GC_WHILE_STREAMING = 1_000_000
FULL_GC_AFTER_REPLY_S = 2.0

# Buffered tokens are shown at most this often (about two frames).
TOKEN_TICK_S = 0.03

# The first screen needs no agent (threads, the open conversation and its
# history are read directly); the agent, and the profile kept beside it, load
# this long after that screen is up, or at once when the person starts typing.
AGENT_WARM_UP_DELAY_S = 1.0
# The text in the message box is kept this long after the last key.
DRAFT_SAVE_DELAY_S = 1.0


class FlushTokens(Message):
    """Posted by the reply worker (thread-safe) when tokens are waiting."""


PREVIEW_NOTICE = "Preview of an earlier point — Enter in History to rewind, Esc to go back"


# A thread as the chat and the history pane show it.
Loaded = tuple[ThreadInfo, list[ChatMessage], History]


class Opened(NamedTuple):
    """A thread the start-up worker read, ready to show."""

    thread_id: str
    remembered: bool  # the session already names it as the open thread
    loaded: Loaded | None = None  # None: read it again
    draft: str = ""


class StartUp(NamedTuple):
    threads: list[ThreadInfo]
    pending: list[PendingRun]
    first: Opened | None
    unsent: list[Unsent]


class Held(NamedTuple):
    """A message kept in the outbox (durable) and no longer in the input box."""

    message_id: str
    text: str


UNSENT_NOTICE = "Not sent before the app stopped: your message is back in the box."


# The chat keeps at least this many columns while a panel can step aside.
MIN_CHAT_COLUMNS = 40


def fitting_panels(width: int, sidebar: bool, panel: bool) -> tuple[bool, bool]:
    """Which of the wanted panels fit beside a chat of MIN_CHAT_COLUMNS at
    ``width`` (their widths, borders included, follow app.tcss's breakpoints)."""
    if width <= 0:
        return sidebar, panel
    sidebar_w, panel_w = (21, 29) if width < 100 else (25, 33) if width < 130 else (33, 45)
    if panel and width - (sidebar_w if sidebar else 0) - panel_w < MIN_CHAT_COLUMNS:
        panel = False
    if sidebar and width - sidebar_w < MIN_CHAT_COLUMNS:
        sidebar = False
    return sidebar, panel


def usage_line(history: History, context_window: int) -> str:
    """Tokens the thread's replies used, and how full the newest request was:
    "12.3k tokens · context 5.1k of 8k" ("" before any reply says)."""
    total = 0
    newest: int | None = None
    for cp in history.checkpoints:
        if cp.input_tokens is not None:
            total += cp.input_tokens + (cp.output_tokens or 0)
            if cp.id in history.branch_ids:
                newest = cp.input_tokens
    if newest is None:
        return ""
    # Only the newest checkpoints are read for a long thread: at least this many.
    at_least = "" if history.complete else "≥"
    return f"{at_least}{_k(total)} tokens · context {_k(newest)} of {_k(context_window)}"


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k".replace(".0k", "k") if n >= 1000 else str(n)


def hidden(widget: W, hide: bool = True) -> W:
    """``widget``, not displayed when ``hide``: for compose, before the first layout."""
    widget.display = not hide
    return widget


def error_text(exc: BaseException) -> str:
    """One readable line for a failure; never a traceback, never markup."""
    if isinstance(exc, ServiceError):
        return to_display(str(exc), single_line=True)
    detail = to_display(str(exc), single_line=True)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class ChatApp(App[int]):
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
        Binding("f3", "focus_history", "History", show=False),
        Binding("f4", "focus_profile", "Profile", show=False),
        Binding("f1", "help", "Help", show=False),
        Binding("question_mark", "help('?')", "Help", show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        service: ChatService,
        *,
        clock: Callable[[], float] = time.time,
        poll_interval_s: float = 2.0,
        history_tz: tzinfo | None = None,
        warm_up_delay_s: float = AGENT_WARM_UP_DELAY_S,
    ) -> None:
        super().__init__()
        self.warm_up_delay_s = warm_up_delay_s
        self._gc_threshold = gc.get_threshold()
        self._warm: Worker[None] | None = None
        self.history_tz = history_tz
        self.settings = settings
        self.service = service
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.current_id: str | None = None
        self.current_info: ThreadInfo | None = None
        self.drafts: dict[str, str] = {}
        self._widget_cache: dict[str, Widget] = {}
        self._poll_stamp: tuple[str, tuple[int, float]] | None = None
        self.pending: dict[str, PendingRun] = {}
        self.preview_id: str | None = None
        self.reply_thread: str | None = None
        self.history: History | None = None
        self._query = ""
        # The message being sent (its thread and outbox row) until it is saved.
        self._unsent: tuple[str, Held] | None = None
        # A message sent before the first thread was shown: for that thread.
        self._started_up = False
        self._held_for_start: Held | None = None
        # Held during start-up while interrupted replies are resumed: sent after them.
        self._after_resume: Held | None = None
        self._send_after_load: Held | None = None
        self._draft_timer: Timer | None = None
        self._choices: dict[str, str] = {}
        self._wants = {"sidebar": True, "panel": True}
        self._retry: tuple[int, int, float, str] | None = None  # attempt, max, deadline, why
        self._poll_worker: Worker[None] | None = None
        # Streaming: tokens buffered by the reply worker, drained once per tick.
        self._token_lock = threading.Lock()
        self._tokens: list[Token] = []
        self._flush_due = False
        self._last_flush = 0.0
        self._reply_shown: str | None = None  # thread whose finished reply was appended
        # Between Ctrl-N and the new thread existing: its worker, and a message
        # sent meanwhile (it is for the new thread, not the one being left).
        self._creating: Worker[None] | None = None
        self._send_when_created: Held | None = None

    # -- layout -------------------------------------------------------------------

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
                yield hidden(Static(Text(PREVIEW_NOTICE), id="preview-notice"))
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

    def _remember(self, name: str, value: str) -> None:
        """Keep a choice made on screen for the next start (in a worker)."""
        self._choices[name] = value
        self.call_service(lambda: self.service.session.set_choice(name, value), group="session")

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

    @property
    def main_screen(self) -> Screen[Any]:
        # App.query_one searches the *active* screen: with a modal or the
        # command palette open it would not find the main widgets.
        return self.screen_stack[0]

    def _main_widget(self, key: str, selector: str, kind: type[W]) -> W:
        # Kept once found: timers and worker callbacks can still fire while
        # the app shuts down and the screen's children are already gone.
        found = self._widget_cache.get(key)
        if found is None:
            found = self.main_screen.query_one(selector, kind)
            self._widget_cache[key] = found
        return cast(W, found)

    @property
    def chat(self) -> ChatView:
        return self._main_widget("chat", "ChatView", ChatView)

    @property
    def sidebar(self) -> ThreadSidebar:
        return self._main_widget("sidebar", "ThreadSidebar", ThreadSidebar)

    @property
    def status(self) -> StatusLine:
        return self._main_widget("status", "StatusLine", StatusLine)

    @property
    def chat_input(self) -> MessageBox:
        return self._main_widget("input", "#chat-input", MessageBox)

    def _panel(self, kind: str) -> Widget | None:
        found = self.main_screen.query(f"#{kind}")
        return found.first() if found else None

    # -- running service calls ------------------------------------------------------

    def call_service(
        self,
        fn: Callable[[], T],
        then: Callable[[T], object] | None = None,
        *,
        group: str = "ops",
        exclusive: bool = False,
    ) -> Worker[None]:
        """Run ``fn`` in a thread; hand its result to ``then`` on the UI thread."""

        def body() -> None:
            result = fn()
            if then is not None and self.is_running:
                self.call_from_thread(self._deliver, then, result)

        return self.run_worker(
            body, thread=True, group=group, exclusive=exclusive, exit_on_error=False
        )

    def _deliver(self, then: Callable[[T], object], result: T) -> None:
        # A worker can finish while the app is shutting down: nothing to show then.
        if self.screen_stack and self.is_running:
            then(result)

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

    # -- start-up and the thread list ------------------------------------------------

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
            loaded = self._read_thread(thread_id, HISTORY_WINDOW)
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

    # -- opening a thread -------------------------------------------------------------

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
        )

    def _keep_draft(self, thread_id: str, text: str) -> None:
        self.drafts[thread_id] = text
        self.call_service(lambda: self.service.session.set_draft(thread_id, text), group="session")

    def _restore_draft(self, thread_id: str, text: str) -> None:
        if text and self.current_id == thread_id and not self.chat_input.value:
            self.drafts[thread_id] = text
            self.chat_input.value = text

    def on_unmount(self) -> None:
        gc.unfreeze()  # frozen at start-up (see _started)
        gc.enable()  # paused in compose, should start-up not have finished
        gc.set_threshold(*self._gc_threshold)  # raised while a reply streams
        # Keep the unsent text for the next session (the short-term tier has a TTL).
        # Never let a cache (or a half-torn-down screen) stop the app quitting.
        with contextlib.suppress(Exception):
            if self.current_id is not None:
                self.service.session.set_draft(self.current_id, self.chat_input.value)

    def _thread_loaded(
        self,
        thread_id: str,
        select_message: str | None,
        loaded: Loaded,
    ) -> None:
        if thread_id != self.current_id:
            return
        info, messages, history = loaded
        self._set_current_info(info)
        if self.reply_thread == thread_id and self.chat.streaming:
            return  # the live reply stays on screen; it is reloaded when it ends
        self.chat.show_messages(messages)
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

    def load_history(self, thread_id: str, *, complete: bool = False) -> None:
        """Load the history pane in its own worker, after the chat is on screen.

        Only the newest checkpoints are read unless ``complete`` (the person
        asked for earlier entries, or the pane already shows them all).
        """
        newest = self._history_window(thread_id, complete=complete)
        self.call_service(
            lambda: self.service.history(thread_id, newest=newest),
            self._history_if_current,
            group="history",
            exclusive=True,
        )

    def _history_window(self, thread_id: str, *, complete: bool = False) -> int | None:
        """How many of the newest checkpoints the history pane reads (None: all)."""
        pane = self._panel("history-pane")
        shown = self.history
        if (
            shown is not None
            and shown.thread_id == thread_id
            and shown.complete
            and getattr(pane, "wants_all", False)
        ):
            complete = True
        return None if complete else HISTORY_WINDOW

    def on_history_pane_earlier_requested(self, event: Any) -> None:
        if self._for_current(event) and self.current_id is not None:
            self.load_history(self.current_id, complete=True)

    def _set_history(self, history: History) -> None:
        self.history = history
        self.status.usage = usage_line(history, self.service.context_window)
        pane = self._panel("history-pane")
        if pane is not None:
            pane.history = history  # type: ignore[attr-defined]

    def _set_facts(self, facts: list[Any]) -> None:
        panel = self._panel("profile-panel")
        if panel is not None:
            panel.show(facts)  # type: ignore[attr-defined]

    def refresh_profile(self) -> None:
        self.call_service(self.service.profile, self._set_facts, group="profile")

    def warm_up(self) -> None:
        """Load the agent and the profile (once), so the first message does not wait."""
        if self._warm is not None:
            return

        def load() -> list[Any]:
            self.service.load_agent()
            prepare_rendering()
            return list(self.service.profile())

        def loaded(facts: list[Any]) -> None:
            self._set_facts(facts)
            # The agent's libraries are ~100,000 more long-lived objects: left
            # in the collected generations, a full collection took ~70 ms (in
            # the middle of opening a thread); frozen, as at start-up.
            gc.freeze()

        self._warm = self.call_service(load, loaded, group="profile")

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

    @on(TabbedContent.TabActivated, "#side-panel")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-profile":
            self.warm_up()
        if event.pane.id and self._choices.get("tab") != event.pane.id:
            self._remember("tab", event.pane.id)

    def _theme_changed(self, theme: str) -> None:
        self._remember("theme", theme)

    # -- sending and replies --------------------------------------------------------

    @on(MessageBox.Submitted, "#chat-input")
    def _submitted(self, event: MessageBox.Submitted) -> None:
        event.stop()
        self.send(event.value)

    def send(self, text: str) -> None:
        if is_blank(text):
            return
        if self.preview_id is not None:
            self.notify("This is a preview: rewind in History first, or Esc to go back.")
            return
        if self.reply_thread is not None:
            self.notify("A reply is still being written; Esc stops it.", severity="warning")
            return
        if self.current_id is not None and self.current_id in self.pending:
            self.notify("Resume or discard the unfinished reply first.", severity="warning")
            return
        waiting = not self._started_up or self._creating is not None
        if waiting and (self._held_for_start or self._send_when_created):
            return  # one message waits at a time; this one stays in the box
        # The text leaves the box only once it is durable (the outbox): a crash
        # from here on leaves it in its thread or gives it back as a draft.
        try:
            held = Held(self.service.hold(None if waiting else self.current_id, text), text)
        except ServiceError as exc:
            self.notify(f"Not sent: {exc}", severity="error", markup=False)
            return
        self.chat_input.value = ""
        if not self._started_up:
            # The first thread is not shown yet: the message is for that one.
            self._held_for_start = held
            self.status.state = "sending…"
        elif self._creating is not None:
            self._send_when_created = held
        else:
            if self.current_id is not None:
                self._keep_draft(self.current_id, "")
            self._send_held(held)

    def _send_held(self, held: Held) -> None:
        """Send to the open thread, or to a new one when there is none."""
        if self.current_id is None:
            self.call_service(self.service.create_thread, partial(self._created_then_send, held))
        elif self.current_id in self.pending:
            self._give_back(held, "the last reply did not finish; resume or discard it first")
        else:
            self._begin_send(self.current_id, held)

    def _created_then_send(self, held: Held, info: ThreadInfo) -> None:
        self.current_id = info.id
        self.sidebar.current_id = info.id
        self._set_current_info(info)
        self.chat.show_messages([])
        self.poll_threads()
        self._begin_send(info.id, held)

    def _begin_send(self, thread_id: str, held: Held) -> None:
        # The person's message shows at once, marked "sending" until the
        # service says its input checkpoint is on disk.
        self.chat.append_message(ChatMessage(id="", role="user", text=held.text, status="sending"))
        self._unsent = (thread_id, held)
        self.start_reply(
            thread_id,
            lambda: self.service.send(thread_id, held.text, message_id=held.message_id),
        )
        self.status.state = "sending…"

    def start_reply(self, thread_id: str, events: Callable[[], Iterator[Event]]) -> None:
        # A full collection walks every object made since start-up (the open
        # thread's messages and their drawing): 25-30 ms with 1,000 messages,
        # a stall in the middle of a streaming reply. Young objects are still
        # collected while it streams; full collections wait for its end.
        young, middle, _ = self._gc_threshold
        gc.set_threshold(young, middle, FULL_GC_WHILE_STREAMING)
        self.reply_thread = thread_id
        self.status.state = "streaming"
        self.chat.hide_failure()
        self._run_reply(thread_id, events)

    @work(thread=True, exclusive=True, group="reply", exit_on_error=False)
    def _run_reply(self, thread_id: str, events: Callable[[], Iterator[Event]]) -> None:
        # Tokens go into a buffer the UI drains once per tick: the worker never
        # waits on the UI per token. Other events (rare) wait their turn after
        # the tokens before them.
        try:
            for event in events():
                if isinstance(event, Token):
                    self._buffer_token(event)
                else:
                    self.call_from_thread(
                        cast(Callable[..., Any], self._on_event_after_tokens), event
                    )
        except Exception as exc:
            self.call_from_thread(cast(Callable[..., Any], self._reply_error), thread_id, exc)
        finally:
            self.call_from_thread(cast(Callable[..., Any], self._reply_done), thread_id)

    def _buffer_token(self, token: Token) -> None:
        """Worker side: queue a token; ask the UI for a flush if none is due."""
        with self._token_lock:
            self._tokens.append(token)
            if self._flush_due:
                return
            self._flush_due = True
        self.post_message(FlushTokens())

    def on_flush_tokens(self, _: FlushTokens) -> None:
        # At most one flush per tick: tokens arriving meanwhile join the next one.
        wait = self._last_flush + TOKEN_TICK_S - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._flush_tokens)
        else:
            self.call_next(self._flush_tokens)

    async def _flush_tokens(self) -> int:
        """UI side: show every buffered token (joined per thread); how many there were."""
        with self._token_lock:
            tokens, self._tokens = self._tokens, []
            self._flush_due = False
        self._last_flush = time.monotonic()
        i = 0
        while i < len(tokens):
            tid = tokens[i].thread_id
            j = i
            while j < len(tokens) and tokens[j].thread_id == tid:
                j += 1
            await self._on_event(Token(tid, "".join(t.text for t in tokens[i:j])))
            i = j
        return len(tokens)

    async def _on_event_after_tokens(self, event: Event) -> None:
        await self._flush_tokens()
        await self._on_event(event)

    async def _on_event(self, event: Event) -> None:
        current = getattr(event, "thread_id", None) == self.current_id
        if isinstance(event, Token):
            self._retry = None
            if current and self.preview_id is None:
                if self.status.state != "streaming":
                    self.status.state = "streaming"
                await self.chat.write_tokens(event.text)
        elif isinstance(event, UserMessageSaved):
            self._unsent = None
            if current and self.status.state.startswith("sending"):
                self.status.state = "streaming"
            if current and self.preview_id is None:
                # The message shown at once gets its id (edit, select, search).
                self.chat.lines.acknowledge(event.message)
        elif isinstance(event, Retrying):
            self._retry = (
                event.attempt,
                event.max_attempts,
                time.monotonic() + event.delay_s,
                one_line(event.reason, 60),
            )
            if current and self.preview_id is None:
                # The retry writes the reply again from its start: what the
                # failed attempt streamed is replaced, never repeated.
                await self.chat.discard_partial()
            self._tick_retry()
        elif isinstance(event, ThreadBusy):
            if current:
                self.status.state = "waiting for another window…"
        elif isinstance(event, ReplyFinished):
            self._retry = None
            self.pending.pop(event.thread_id, None)
            if current and self.preview_id is None:
                await self.chat.finish_reply(event.message)
                self.status.state = "stopped" if event.message.status == "stopped" else "idle"
                self._reply_shown = event.thread_id
        elif isinstance(event, ReplyFailed):
            self._retry = None
            if event.can_retry:
                self.pending[event.thread_id] = PendingRun(event.thread_id, "", "", event.partial)
            if current:
                await self.chat.stop_stream()
                self.chat.show_failure(event.reason, event.can_retry)
                self.status.state = "failed"
        elif isinstance(event, ProfileUpdated):
            self._set_facts(list(event.facts))
        elif isinstance(event, ProfileNotUpdated):
            self.notify(
                f"Profile not updated: {one_line(event.reason, 120)}. It is tried again with"
                " your next message.",
                severity="warning",
                markup=False,
            )
        elif isinstance(event, ThreadChanged) and current:
            self._set_current_info(event.thread)

    async def _reply_error(self, thread_id: str, exc: Exception) -> None:
        await self._flush_tokens()
        self.notify(error_text(exc), severity="error", markup=False)
        if thread_id == self.current_id:
            self.status.state = "idle"

    async def _reply_done(self, thread_id: str) -> None:
        await self._flush_tokens()
        self.set_timer(FULL_GC_AFTER_REPLY_S, self._collect_after_reply)
        self.reply_thread = None
        self.refresh_bindings()  # Esc has nothing to stop now
        self._retry = None
        if self._unsent is not None and self._unsent[0] == thread_id:
            # The message never reached storage: the text goes back in the box.
            held = self._unsent[1]
            self._unsent = None
            if thread_id == self.current_id:
                self._give_back(held)
        shown, self._reply_shown = self._reply_shown, None
        if self._after_resume is not None:
            # Sent once the resumed thread is shown as it now is.
            self._send_after_load, self._after_resume = self._after_resume, None
            self.reload_thread()
        if thread_id == self.current_id:
            await self.chat.stop_stream()
            if self.status.state.startswith(("streaming", "retrying", "waiting")):
                self.status.state = "idle"
            failed = self.chat.query_one(FailureNotice).display
            if not failed and not (shown == thread_id and self.chat.lines.all_saved):
                # Something unusual (a resume, nothing finished): read it all again.
                self.reload_thread()
            else:
                # The chat already shows the finished reply: only the history moves.
                self.load_history(thread_id)
        self.poll_threads()

    def _collect_after_reply(self) -> None:
        """The full collection held back while a reply streamed, once the screen
        is still (at the reply's end it would stall the last frames)."""
        if self.reply_thread is None:
            gc.set_threshold(*self._gc_threshold)
            gc.collect()

    def _history_if_current(self, history: History) -> None:
        if history.thread_id == self.current_id:
            self._set_history(history)

    def _tick_retry(self) -> None:
        if self._retry is None:
            if self.status.state.startswith("retrying"):
                self.status.state = "streaming"
            return
        attempt, max_attempts, deadline, why = self._retry
        left = max(0, round(deadline - time.monotonic()))
        self.status.state = f"retrying {attempt}/{max_attempts} in {left} s: {why}"

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

    def action_regenerate(self) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None or self.preview_id is not None:
            return
        if tid in self.pending:
            # The last message has no reply yet: write it, rather than fork.
            self.action_resume_reply()
            return
        messages = self.chat.lines.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
        if last_user is None:
            self.notify("There is no message to regenerate a reply for.")
            return
        self.chat.show_messages(messages[: last_user + 1])
        self.start_reply(tid, lambda: self.service.regenerate(tid))

    @on(MessageBox.RecallRequested)
    def _recall_last_message(self) -> None:
        """↑ in the empty box: select the person's last message (e edits and
        resends it, Esc comes back)."""
        lines = self.chat.lines
        mine = [m for m in lines.messages if m.role == "user" and m.id]
        if not mine:
            return
        lines.focus()
        lines.select_message(mine[-1].id)

    @on(MessageLines.EditRequested)
    def _edit_requested(self, event: MessageLines.EditRequested) -> None:
        message = event.message
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return

        def edited(text: str | None) -> None:
            if text is None or is_blank(text):
                return
            messages = self.chat.lines.messages
            index = next((i for i, m in enumerate(messages) if m.id == message.id), None)
            if index is not None:
                shown = [*messages[:index], ChatMessage(id="", role="user", text=text)]
                self.chat.show_messages(shown)
            self.start_reply(tid, lambda: self.service.edit_and_resend(tid, message.id, text))

        self.push_screen(
            TextPromptScreen("Edit and resend (the thread forks here)", message.text),
            edited,
        )

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

    # -- thread actions ------------------------------------------------------------------

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
                self.current_id = None
                self.current_info = None
                self.status.thread_title = ""
                self.chat.show_messages([])
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

    # -- panels ---------------------------------------------------------------------------

    def action_toggle_sidebar(self) -> None:
        # Shown as asked even where it squeezes the chat: the person decides.
        sidebar = self.sidebar
        sidebar.display = not sidebar.display
        self._wants["sidebar"] = sidebar.display
        self._remember("sidebar", "shown" if sidebar.display else "hidden")

    def action_toggle_side_panel(self) -> None:
        panel = self.main_screen.query_one("#side-panel")
        panel.display = not panel.display
        self._wants["panel"] = panel.display
        self._remember("panel", "shown" if panel.display else "hidden")

    def on_resize(self, event: events.Resize) -> None:
        self._fit_panels(event.size.width)

    def _fit_panels(self, width: int) -> None:
        """Below a width the side panel, then the sidebar, step aside so the
        chat keeps about 40 columns; they come back when there is room."""
        if not self.screen_stack:
            return
        show_sidebar, show_panel = fitting_panels(
            width, self._wants["sidebar"], self._wants["panel"]
        )
        panel = self.main_screen.query_one("#side-panel")
        if self.sidebar.display != show_sidebar:
            self.sidebar.display = show_sidebar
        if panel.display != show_panel:
            panel.display = show_panel

    def _show_tab(self, tab: str) -> None:
        panel = self.main_screen.query_one("#side-panel", TabbedContent)
        panel.display = True
        self._wants["panel"] = True
        panel.active = tab
        target = self._panel("history-pane" if tab == "tab-history" else "profile-panel")
        if target is not None:
            # The panel itself is a container: focus its first focusable child.
            inner = next((w for w in target.query("*") if w.focusable), target)
            self.call_after_refresh(inner.focus)

    def action_focus_threads(self) -> None:
        self.sidebar.display = True
        self.call_after_refresh(self.main_screen.query_one("#thread-list").focus)

    def action_focus_history(self) -> None:
        self._show_tab("tab-history")

    def action_focus_profile(self) -> None:
        self._show_tab("tab-profile")

    # -- history pane ------------------------------------------------------------------------

    def _enter_preview_ui(self, checkpoint_id: str) -> None:
        self.preview_id = checkpoint_id
        self.main_screen.query_one("#preview-notice").display = True
        self.status.state = "preview"

    def _leave_preview_ui(self) -> None:
        if self.preview_id is not None:
            self.preview_id = None
            self.main_screen.query_one("#preview-notice").display = False
            self.status.state = "idle"

    def preview_checkpoint(self, checkpoint_id: str) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return

        def shown(messages: list[ChatMessage]) -> None:
            if tid == self.current_id:
                self._enter_preview_ui(checkpoint_id)
                self.chat.show_messages(messages, read_only=True)

        self.call_service(
            lambda: self.service.load_messages(tid, checkpoint_id),
            shown,
            group="load",
            exclusive=True,
        )

    def rewind_to(self, checkpoint_id: str) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return
        newest = self._history_window(tid)

        def rewind() -> tuple[list[ChatMessage], History]:
            # One worker for both: the chat and the timeline change in one frame.
            messages = self.service.rewind(tid, checkpoint_id)
            return messages, self.service.history(tid, newest=newest)

        def rewound(result: tuple[list[ChatMessage], History]) -> None:
            messages, history = result
            self.notify("Rewound: the next message continues from here on a new branch.")
            self._show_head(tid, messages, history)
            self.chat_input.focus()

        self.call_service(rewind, rewound)

    def _show_head(
        self, thread_id: str, messages: list[ChatMessage], history: History | None = None
    ) -> None:
        """Show the messages a rewind returned, and its history (read in its own
        worker when not given).

        Rendered messages are reused (MessageLines caches them per message).
        """
        if thread_id != self.current_id:
            return
        self._leave_preview_ui()
        self.chat.show_messages(messages)
        if history is None:
            self.load_history(thread_id)
        else:
            self._history_if_current(history)
        if self.reply_thread is None and thread_id not in self.pending:
            self.status.state = "idle"

    def back_to_latest(self) -> None:
        tid = self.current_id
        if tid is None or self.reply_thread is not None:
            return

        self.call_service(lambda: self.service.back_to_latest(tid), partial(self._show_head, tid))

    def _for_current(self, event: Any) -> bool:
        # The pane may name the thread its history belonged to; ignore stale ones.
        thread_id = getattr(event, "thread_id", "")
        return not thread_id or thread_id == self.current_id

    def _history_focused(self) -> bool:
        pane = self._panel("history-pane")
        focused = self.focused
        return pane is not None and focused is not None and pane in focused.ancestors_with_self

    def on_history_pane_checkpoint_previewed(self, event: Any) -> None:
        # A highlight that moved because the history was reloaded is not a request.
        if self._for_current(event) and self._history_focused():
            self.preview_checkpoint(event.checkpoint_id)

    def on_history_pane_rewind_requested(self, event: Any) -> None:
        if self._for_current(event):
            self.rewind_to(event.checkpoint_id)

    def on_history_pane_back_to_latest_requested(self, event: Any) -> None:
        self.back_to_latest()

    def on_history_pane_branch_chosen(self, event: Any) -> None:
        tid, checkpoint_id = self.current_id, event.checkpoint_id
        if self._for_current(event) and tid is not None and self.reply_thread is None:
            self.call_service(
                lambda: self.service.show_branch(tid, checkpoint_id), partial(self._show_head, tid)
            )

    # -- profile panel ------------------------------------------------------------------------

    def on_profile_panel_fact_edited(self, event: Any) -> None:
        key, value = event.key, event.value
        self.call_service(
            lambda: self.service.edit_fact(key, value), lambda _: self.refresh_profile()
        )

    def on_profile_panel_fact_forgotten(self, event: Any) -> None:
        key, fact = event.key, event.fact

        def forgotten(_: object) -> None:
            self.refresh_profile()
            if fact is not None:
                self.notify(forgot_notice(fact), markup=False)

        self.call_service(lambda: self.service.forget(key), forgotten)

    def on_profile_panel_fact_restored(self, event: Any) -> None:
        fact = event.fact
        self.call_service(lambda: self.service.restore_fact(fact), lambda _: self.refresh_profile())

    def on_profile_panel_forget_all_requested(self, event: Any) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.call_service(self.service.forget_all, lambda _: self.refresh_profile())

        question = Text("Forget everything the assistant has learned about you?")
        self.push_screen(ConfirmScreen(question, "Forget all"), answered)

    def on_profile_panel_provenance_opened(self, event: Any) -> None:
        self.open_thread(event.thread_id, select_message=event.message_id)

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
