"""What every area of the app shares: the service, the open thread's state, the
main widgets, and running service calls in workers.

Each area (threads, reply, history, profile, recovery, layout) is a subclass
of ``ChatAppBase`` and ``ChatApp`` inherits them all; an area calls another
through the methods declared here for the type checker only. An area is an
``App`` subclass rather than a plain mixin: Textual registers ``@on`` handlers
only in classes its message-pump metaclass builds.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from textual.app import App
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.worker import Worker

from chat_app.config import Settings
from chat_app.safe_text import to_display
from chat_app.service import ChatService, PendingRun, ServiceError
from chat_app.service.events import ChatMessage, Event, History, SummaryMark, ThreadInfo, Token
from chat_app.ui.widgets.chat_view import ChatView
from chat_app.ui.widgets.message_box import MessageBox
from chat_app.ui.widgets.status_line import StatusLine
from chat_app.ui.widgets.thread_sidebar import ThreadSidebar

# The first screen needs no agent (threads, the open conversation and its
# history are read directly); the agent, and the profile kept beside it, load
# this long after that screen is up, or at once when the person starts typing.
AGENT_WARM_UP_DELAY_S = 1.0

T = TypeVar("T")
W = TypeVar("W", bound=Widget)

# A thread as the chat and the history pane show it.
Loaded = tuple[ThreadInfo, list[ChatMessage], History, SummaryMark | None]


class Opened(NamedTuple):
    """A thread the start-up worker read, ready to show."""

    thread_id: str
    remembered: bool  # the session already names it as the open thread
    loaded: Loaded | None = None  # None: read it again
    draft: str = ""


class Held(NamedTuple):
    """A message kept in the outbox (durable) and no longer in the input box."""

    message_id: str
    text: str


def error_text(exc: BaseException) -> str:
    """One readable line for a failure; never a traceback, never markup."""
    if isinstance(exc, ServiceError):
        return to_display(str(exc), single_line=True)
    detail = to_display(str(exc), single_line=True)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class ChatAppBase(App[int]):
    """The app's state and the helpers every area uses."""

    if TYPE_CHECKING:
        # Implemented by one area and called from others (ChatApp has them all).
        # (ThreadsArea's open_thread takes more, for the app's start-up.)
        def open_thread(self, thread_id: str, *, select_message: str | None = None) -> None: ...
        def reload_thread(self) -> None: ...
        def poll_threads(self) -> None: ...
        def _set_current_info(self, info: ThreadInfo) -> None: ...
        def _keep_draft(self, thread_id: str, text: str) -> None: ...
        def _send_held(self, held: Held) -> None: ...
        def _created_then_send(self, held: Held, info: ThreadInfo) -> None: ...
        def start_reply(self, thread_id: str, events: Callable[[], Iterator[Event]]) -> None: ...
        def load_history(self, thread_id: str, *, complete: bool = False) -> None: ...
        def _history_window(self, thread_id: str, *, complete: bool = False) -> int | None: ...
        def _history_if_current(self, history: History) -> None: ...
        def _leave_preview_ui(self) -> None: ...
        def warm_up(self) -> None: ...
        def _set_facts(self, facts: list[Any]) -> None: ...
        def _give_back(self, held: Held | None, why: str = "") -> None: ...
        def action_resume_reply(self) -> None: ...

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

    def _remember(self, name: str, value: str) -> None:
        """Keep a choice made on screen for the next start (in a worker)."""
        self._choices[name] = value
        self.call_service(lambda: self.service.session.set_choice(name, value), group="session")
