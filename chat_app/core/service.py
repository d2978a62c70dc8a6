"""ChatService: the one object the UI and the CLI talk to.

It owns the compiled graph, the checkpointer, the profile store, the threads
index, the per-thread locks and the single retry layer. Everything it returns
is plain data (``chat_app.core.events``); it never imports Textual.

Threading: methods are synchronous and safe to call from worker threads; one
reply per thread at a time (a file lock shared with other processes).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import tenacity

from chat_app.config import Settings
from chat_app.core.backend import Backend, WriterLock, open_backend
from chat_app.core.changes import Change, NotifyingIndex, open_change_feed
from chat_app.core.events import (
    ChatMessage,
    CheckpointInfo,
    Event,
    History,
    HistorySummary,
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
from chat_app.core.local_state import LocalValues
from chat_app.core.outbox import Outbox, Unsent
from chat_app.core.private_files import make_private_dir
from chat_app.core.short_term import MessageCache, SessionContext, open_short_term
from chat_app.safe_text import clean_input, is_blank, one_line
from graphs.context import ChatContext
from graphs.errors import ModelCallError, ProfileStoreError, StreamInterrupted, classify
from graphs.facts import ProfileFact

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AnyMessage, BaseMessage
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.store.base import BaseStore

    from graphs.nodes import Extractor

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1_000_000
MAX_SEARCH_CHARS = 1_000
# How often the streamed-so-far reply is written aside, so a crash mid-reply
# can show what had been written.
PARTIAL_SAVE_INTERVAL_S = 0.5
# What this machine keeps between runs: the outbox (messages between Enter and
# their input checkpoint) and the session (chat_app/core/local_state.py).
LOCAL_FILE = "local.db"


def _holds_message(value: Any, message_id: str) -> bool:
    """Whether a pending write (a message, or lists/dicts of them) holds the id."""
    if isinstance(value, dict):
        return any(_holds_message(v, message_id) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_message(v, message_id) for v in value)
    return getattr(value, "id", None) == message_id


def storage_errors() -> tuple[type[Exception], ...]:
    """What a storage failure raises: sqlite3.Error, a failing profile store
    (whatever its cause), and psycopg.Error once the PostgreSQL backend has
    loaded psycopg (not imported here: SQLite needs none)."""
    pg = sys.modules.get("psycopg")
    found: tuple[type[Exception], ...] = (sqlite3.Error, ProfileStoreError)
    return (*found, pg.Error) if pg is not None else found


MIN_ID_PREFIX = 4
_ID_CHARS = "0123456789abcdef-"


class ServiceError(Exception):
    """A request the service refuses; the message is one line for the person."""


class ThreadNotFound(ServiceError):
    pass


class AmbiguousThreadId(ServiceError):
    """A short thread id that more than one of the user's threads start with."""


class DamagedCheckpoint(ServiceError):
    """A saved checkpoint cannot be read (tampered with or corrupted)."""


@dataclass(frozen=True)
class PendingRun:
    """A thread whose last reply did not finish."""

    thread_id: str
    title: str
    user_text: str
    partial: str


@dataclass
class RecoveryReport:
    """What :meth:`ChatService.recover` found among the threads marked running."""

    resumed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    # Interrupted threads of other users: left flagged for them, not named here.
    other_users: int = 0


def _message_status(m: BaseMessage) -> str:
    status = m.additional_kwargs.get("status", "")
    return status if isinstance(status, str) else ""


def to_chat_message(m: BaseMessage) -> ChatMessage | None:
    return next(iter(_chat_messages([m])), None)


def _chat_messages(messages: list[AnyMessage] | list[BaseMessage]) -> list[ChatMessage]:
    from langchain_core.messages import AIMessage, HumanMessage

    out: list[ChatMessage] = []
    for m in messages:
        if isinstance(m, HumanMessage):
            role = "user"
        elif isinstance(m, AIMessage):
            role = "assistant"
        else:
            continue
        text = m.content if isinstance(m.content, str) else m.text
        out.append(ChatMessage(id=str(m.id or ""), role=role, text=text, status=_message_status(m)))
    return out


def _reading(
    thread_id: str, checkpoint_id: str | None = None
) -> contextlib.AbstractContextManager[None]:
    """Deserialize inside this block: damage becomes ``DamagedCheckpoint``."""
    from chat_app.core.damage import reading

    return reading(thread_id, checkpoint_id)


ModelFactory = Callable[[Settings], "tuple[BaseChatModel, Extractor | None]"]


def check_model_settings(settings: Settings) -> None:
    """Refuse, without loading the model's client, what its construction would refuse."""
    name = settings.model.name
    if name.startswith("openai:"):
        from graphs.endpoints import api_key_for

        api_key_for(settings.api_key, settings.model.base_url)


def default_model_factory(settings: Settings) -> tuple[BaseChatModel, Extractor | None]:
    """The model named in the settings, and its profile extractor."""
    name = settings.model.name
    if name == "offline":
        from graphs.models import make_offline_model
        from graphs.offline import Chaos

        c = settings.chaos
        chaos = None
        if c.fail_next or c.drop_stream_after or c.kill_after_tokens:
            chaos = Chaos(c.fail_next, c.drop_stream_after, c.kill_after_tokens)
        delay = settings.model.offline_token_delay_ms / 1000.0
        return make_offline_model(delay, chaos), None
    from graphs.providers import make_openai_model, structured_extractor

    model = make_openai_model(
        name.split(":", 1)[1],
        api_key=settings.api_key,
        base_url=settings.model.base_url,
        connect_timeout_s=settings.model.connect_timeout_s,
        read_timeout_s=settings.model.read_timeout_s,
    )
    return model, structured_extractor(model)


class ChatService:
    def __init__(
        self,
        settings: Settings,
        *,
        model_factory: ModelFactory = default_model_factory,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.user_id = settings.user_id
        self._model_factory = model_factory
        self._sleep = sleep
        self.backend: Backend = open_backend(settings)
        # Short-term tier (Redis or in-process) and the change feed to other
        # instances; see chat_app/core/short_term.py and changes.py.
        self.short_term = open_short_term(
            # In memory nothing leaves the process: not even to Redis.
            "" if self.backend.name == "memory" else settings.short_term.redis_url
        )
        self.session = SessionContext(
            self.short_term, self.user_id, settings.short_term.session_ttl_s, self._local_values
        )
        self._message_cache = MessageCache(self.short_term)
        self.changes = open_change_feed(self.user_id, self.short_term, self.backend)
        self.index = NotifyingIndex(self.backend.index, self._index_changed)
        self._cancels: dict[str, threading.Event] = {}
        self._graph_lock = threading.Lock()
        self.model_name = settings.model.name
        if model_factory is default_model_factory:
            # A missing key is refused now, not at the first message.
            check_model_settings(settings)
        # The model and the compiled graph: built when first needed, or ahead
        # of time by load_agent(); see the note on imports at the top.
        self._agent: tuple[BaseChatModel, CompiledStateGraph[Any, Any, Any, Any]] | None = None
        self._agent_lock = threading.Lock()
        self._outbox: Outbox | None = None
        self._local: LocalValues | None = None
        self._outbox_lock = threading.Lock()

    # -- set-up ---------------------------------------------------------------

    def _compile(
        self, settings: Settings
    ) -> tuple[BaseChatModel, CompiledStateGraph[Any, Any, Any, Any]]:
        from graphs.budget import context_budget
        from graphs.graph import build_graph

        model, extractor = self._model_factory(settings)
        m = settings.model
        budget = context_budget(m.name, m.context_tokens, m.reply_tokens)
        graph = build_graph(model, extractor, budget=budget).compile(
            checkpointer=self.backend.saver, store=self.backend.store
        )
        return model, graph

    @property
    def context_window(self) -> int:
        """Tokens one request of the current model may hold (the context budget)."""
        from graphs.budget import context_budget

        m = self.settings.model
        return context_budget(m.name, m.context_tokens, m.reply_tokens).context

    def _agent_parts(self) -> tuple[BaseChatModel, CompiledStateGraph[Any, Any, Any, Any]]:
        agent = self._agent
        if agent is None:
            with self._agent_lock:
                agent = self._agent
                if agent is None:
                    agent = self._agent = self._compile(self.settings)
        return agent

    @property
    def model(self) -> BaseChatModel:
        return self._agent_parts()[0]

    @property
    def graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        return self._agent_parts()[1]

    @property
    def agent_ready(self) -> bool:
        """Whether the agent is loaded (a first message will not wait for it)."""
        return self._agent is not None

    def load_agent(self) -> None:
        """Load the agent now (blocks; a no-op once loaded). What it raises, the
        first use raises too, so a caller may load it ahead of time and ignore errors."""
        self._agent_parts()

    def switch_model(self, name: str) -> None:
        """Use another model from now on (e.g. ``offline``, ``openai:gpt-4o-mini``)."""
        from dataclasses import replace

        from chat_app.config import ConfigError, _validate

        new = replace(self.settings, model=replace(self.settings.model, name=name))
        try:
            _validate(new)
            with self._graph_lock, self._agent_lock:
                self._agent = self._compile(new)
        except (ConfigError, ModelCallError) as exc:
            raise ServiceError(str(exc)) from None
        self.settings = new
        self.model_name = name

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def db_path(self) -> Path | None:
        return self.backend.db_path

    @property
    def store(self) -> BaseStore:
        return self.backend.store

    def close(self) -> None:
        self.changes.close()
        self.short_term.close()
        self.backend.close()
        with self._outbox_lock:
            for kept in (self._outbox, self._local):
                if kept is not None:
                    kept.close()

    # -- messages on their way to their thread ---------------------------------

    @property
    def outbox(self) -> Outbox:
        """Where a sent message is kept until its input checkpoint is on disk
        (chat_app/core/outbox.py); opened on first use."""
        with self._outbox_lock:
            if self._outbox is None:
                self._outbox = Outbox(
                    self._local_file(), self.user_id, self.settings.storage.busy_timeout_s
                )
            return self._outbox

    def _local_values(self) -> LocalValues:
        """The session's copy on this machine; opened on first use."""
        with self._outbox_lock:
            if self._local is None:
                self._local = LocalValues(
                    self._local_file(), self.user_id, self.settings.storage.busy_timeout_s
                )
            return self._local

    def _local_file(self) -> Path | None:
        """local.db in the data directory (created if missing); None: in memory
        (the memory backend writes nothing to disk)."""
        if self.backend.name == "memory":
            return None
        make_private_dir(self.settings.data_dir)
        return self.settings.data_dir / LOCAL_FILE

    def hold(self, thread_id: str | None, text: str) -> str:
        """Keep a message durably before it leaves the input box; its message id.

        Pass the id to :meth:`send`; :meth:`give_back` when the text goes back
        into the box instead.
        """
        text = clean_input(text)
        with self._outbox_errors():
            return self.outbox.put(thread_id, text)

    def give_back(self, message_id: str) -> None:
        """The held message went back into the input box unsent: it stays kept
        as a draft of its thread until the person sends from that thread."""
        with self._outbox_errors():
            self.outbox.mark_returned(message_id)

    @contextlib.contextmanager
    def _outbox_errors(self) -> Iterator[None]:
        from chat_app.core.sqlite_backend import describe_sqlite_error

        try:
            yield
        except sqlite3.Error as exc:
            path = self.settings.data_dir / LOCAL_FILE
            raise ServiceError(describe_sqlite_error(path, exc)) from None
        except storage_errors() as exc:
            raise ServiceError(self._storage_message(exc)) from None

    def unsent_messages(self, default_thread: str | None = None) -> list[Unsent]:
        """Messages a stopped app had held: each reached its thread exactly once
        (dropped from the outbox) or is given back (returned as a draft of its
        thread; of ``default_thread``, the one shown first, when it had none or
        that thread is gone). A returned draft stays here until the person
        sends from its thread."""
        out: list[Unsent] = []
        with self._outbox_errors():
            for row in self.outbox.orphans():
                tid = row.thread_id
                if tid is not None and self.index.get(self.user_id, tid) is None:
                    tid = None
                if tid is None:
                    tid = default_thread
                if tid is not None and self._message_saved(tid, row.message_id):
                    self.outbox.remove(row.message_id)
                    continue
                self.outbox.mark_returned(row.message_id, tid)
                out.append(Unsent(row.message_id, tid, row.text))
        return out

    def _message_saved(self, thread_id: str, message_id: str) -> bool:
        """The message is in the thread: at its head, or in the input of the
        turn a crash interrupted (which recovery resumes): the input
        checkpoint's ``__start__`` value or its pending writes."""
        if any(m.id == message_id for m in self._head_messages(thread_id)):
            return True
        with _reading(thread_id):
            tup = self.backend.saver.get_tuple(self._config(thread_id))
        if tup is None:
            return False
        start = tup.checkpoint["channel_values"].get("__start__")
        writes = [value for _task, _channel, value in tup.pending_writes or []]
        return _holds_message([start, writes], message_id)

    # -- short-term tier and other instances ------------------------------------

    @property
    def short_term_status(self) -> str:
        """``"ok"``, ``"degraded"`` (Redis configured but unreachable: the app
        runs on the database alone and reconnects by itself) or
        ``"in-process"`` (no Redis configured). Never blocks."""
        return self.short_term.status

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback(change)`` for changes made by other instances of this
        user (on a background thread); returns an unsubscribe function."""
        return self.changes.subscribe(callback)

    def poll_changes(self) -> list[Change]:
        """Changes made by other instances since the last call (never blocks)."""
        return self.changes.poll()

    def _index_changed(self, kind: str, thread_id: str) -> None:
        if kind in ("messages", "deleted"):
            self._message_cache.invalidate(thread_id)
        if kind == "deleted":
            self.session.forget_thread(thread_id)
        self.changes.publish(kind, thread_id)

    def _head_messages(self, thread_id: str) -> list[ChatMessage]:
        """Messages at the head, from the short-term cache when it has this head."""
        running = self.index.is_running(thread_id)
        chosen = None if running else self.index.chosen_head(thread_id)
        if chosen is not None:
            # The person switched to another branch: its end is the head.
            cached = self._message_cache.get(thread_id, chosen)
            if cached is None:
                values = self._state_values(thread_id, chosen)
                cached = _chat_messages(values.get("messages", []))
                self._message_cache.put(thread_id, chosen, cached)
            return cached
        head = None if running else self.index.newest_checkpoint(thread_id)
        if head is not None:
            cached = self._message_cache.get(thread_id, head)
            if cached is not None:
                return cached
        msgs = self.backend.head_messages(thread_id)
        if msgs is None:
            msgs = _chat_messages(self._state_values(thread_id).get("messages", []))
        if head is not None:
            self._message_cache.put(thread_id, head, msgs)
        return msgs

    # -- threads --------------------------------------------------------------

    def list_threads(self, query: str = "", limit: int | None = None) -> list[ThreadInfo]:
        query = query.strip()
        if len(query) > MAX_SEARCH_CHARS:
            # SQLite refuses LIKE patterns over 50,000 bytes with an error.
            raise ServiceError(
                f"the search text is too long (at most {MAX_SEARCH_CHARS:,} characters)"
            )
        return self.index.list_threads(self.user_id, limit=limit, query=query)

    def threads_stamp(self) -> tuple[int, float]:
        """A cheap value that changes when the thread list may have changed."""
        count, newest = self.index.stamp(self.user_id)
        return int(count), float(newest)

    def create_thread(self, title: str = "") -> ThreadInfo:
        return self.index.create(self.user_id, one_line(clean_input(title), 120) if title else "")

    def new_thread(self, reuse: str | None = None) -> ThreadInfo:
        """A new thread, or ``reuse`` when it is still empty and untitled (no
        pile of empty threads from asking for a new one twice)."""
        if reuse is not None:
            info = self.index.get(self.user_id, reuse)
            if (
                info is not None
                and not info.title
                and info.message_count == 0
                and not info.interrupted
                and not self.index.checkpoints(reuse, newest=1)
            ):
                return info
        return self.create_thread()

    def get_thread(self, thread_id: str) -> ThreadInfo:
        info = self.index.get(self.user_id, thread_id)
        if info is None:
            # Another user's thread is reported exactly like a missing one.
            raise ThreadNotFound(f"no thread with id {one_line(thread_id, 60)!r}")
        return info

    def resolve_thread_id(self, ref: str) -> str:
        """The thread a full id or a unique prefix (4+ characters, as git takes) names.

        Only the user's own threads count; an ambiguous prefix lists the candidates.
        """
        ref = ref.strip()
        if self.index.get(self.user_id, ref) is not None:
            return ref
        prefix = ref.lower()
        if len(prefix) >= MIN_ID_PREFIX and not set(prefix) - set(_ID_CHARS):
            found = self.index.ids_with_prefix(self.user_id, prefix, limit=6)
            if len(found) == 1:
                return found[0]
            if found:
                listed = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
                raise AmbiguousThreadId(f"thread id {prefix!r} is ambiguous: it starts {listed}")
        raise ThreadNotFound(f"no thread with id {one_line(ref, 60)!r}")

    def rename_thread(self, thread_id: str, title: str) -> ThreadInfo:
        self.get_thread(thread_id)
        title = one_line(clean_input(title), 120)
        if not title:
            raise ServiceError("a thread title cannot be empty")
        self.index.rename(thread_id, title)
        return self.get_thread(thread_id)

    def delete_thread(self, thread_id: str) -> None:
        """Remove the thread's checkpoints, writes, index rows and notes."""
        from chat_app.core import privacy

        self.get_thread(thread_id)
        with self._lock(thread_id, wait_s=self.settings.storage.busy_timeout_s):
            self.backend.saver.delete_thread(thread_id)
            self.index.delete(thread_id)
            # Privacy: the quotes go from the profile, the bytes from the file.
            privacy.scrub_quotes(self.backend.store, self.user_id, thread_id)
        privacy.compact(self.backend.db_path, self.settings.storage.busy_timeout_s)

    # -- reading --------------------------------------------------------------

    def _config(self, thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
        conf: dict[str, Any] = {"thread_id": thread_id}
        if checkpoint_id:
            conf["checkpoint_id"] = checkpoint_id
            conf["checkpoint_ns"] = ""
        return {"configurable": conf}

    def _state_values(self, thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
        from chat_app.core.damage import check_messages
        from graphs.state import migrate_values

        with _reading(thread_id, checkpoint_id):
            snap = self.graph.get_state(self._config(thread_id, checkpoint_id))
        values = dict(snap.values or {})
        check_messages(thread_id, checkpoint_id, values)
        return migrate_values(values)

    def load_messages(self, thread_id: str, checkpoint_id: str | None = None) -> list[ChatMessage]:
        """The conversation at the head, or at ``checkpoint_id``."""
        self.get_thread(thread_id)
        if checkpoint_id is None:
            return self._head_messages(thread_id)
        self._check_checkpoint(thread_id, checkpoint_id)
        return _chat_messages(self._state_values(thread_id, checkpoint_id).get("messages", []))

    def _check_checkpoint(self, thread_id: str, checkpoint_id: str) -> None:
        with _reading(thread_id, checkpoint_id):
            tup = self.backend.saver.get_tuple(self._config(thread_id, checkpoint_id))
        if tup is None:
            raise ServiceError(f"no checkpoint {one_line(checkpoint_id, 60)!r} in this thread")

    def history(self, thread_id: str, newest: int | None = None) -> History:
        """The checkpoint tree from metadata only; the current branch marked.

        ``newest``: read only that many of the newest checkpoints (a bounded
        query for a long thread); ``History.complete`` says whether that was all.
        """
        self.get_thread(thread_id)
        if newest is None:
            cps = self.index.checkpoints(thread_id)
            complete = True
        else:
            # One more than asked: whether earlier checkpoints exist.
            cps = self.index.checkpoints(thread_id, newest=newest + 1)
            complete = len(cps) <= newest
            cps = cps[-newest:] if newest > 0 else []
        chosen = self.index.chosen_head(thread_id)
        if chosen is not None and not complete and all(c.id != chosen for c in cps):
            # The branch shown ends before the newest checkpoints read: read all.
            cps, complete = self.index.checkpoints(thread_id), True
        by_id = {c.id: c for c in cps}
        head = chosen if chosen in by_id else cps[-1].id if cps else None
        branch: set[str] = set()
        cur = head
        while cur is not None and cur not in branch:
            branch.add(cur)
            cur = by_id[cur].parent_id if cur in by_id else None
        return History(thread_id, cps, head, frozenset(branch), complete)

    def branch_timeline(self, thread_id: str) -> list[CheckpointInfo]:
        """Labelled checkpoints of the current branch, newest first."""
        hist = self.history(thread_id)
        branch = [c for c in hist.checkpoints if c.id in hist.branch_ids]
        out: list[CheckpointInfo] = []
        for i, c in enumerate(branch):
            if not c.kind:
                continue
            nxt = branch[i + 1] if i + 1 < len(branch) else None
            # An input checkpoint whose message went to another branch (this
            # branch forked right at it) is not part of this conversation.
            if c.kind == "user" and nxt is not None and nxt.source in ("input", "update"):
                continue
            out.append(c)
        return out[::-1]

    # -- sending --------------------------------------------------------------

    def _lock(self, thread_id: str, wait_s: float) -> WriterLock:
        lock = self.backend.lock(thread_id)
        if not lock.acquire(wait_s):
            raise ServiceError("this thread is busy in another window; try again in a moment")
        return lock

    def check_message(self, text: str) -> str:
        """The message as it would be sent; ServiceError if it cannot be (empty, too long)."""
        text = clean_input(text)
        if is_blank(text):
            raise ServiceError("the message is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ServiceError(
                f"the message is too long ({len(text):,} characters; the limit is "
                f"{MAX_MESSAGE_CHARS:,})"
            )
        return text

    def send(
        self,
        thread_id: str,
        text: str,
        *,
        from_checkpoint: str | None = None,
        message_id: str | None = None,
    ) -> Iterator[Event]:
        """Save the person's message, then stream the reply as events.

        ``message_id``: the id :meth:`hold` gave the message; it is the message's
        id in the thread, and the outbox row goes once the message is saved.
        """
        if message_id is not None:
            with self._outbox_errors():
                self.outbox.assign(message_id, thread_id)
        text = self.check_message(text)
        self.get_thread(thread_id)
        if from_checkpoint is not None:
            self._check_checkpoint(thread_id, from_checkpoint)
        lock = self.backend.lock(thread_id)
        if not lock.try_acquire():
            yield ThreadBusy(thread_id)
            if not lock.acquire(self.settings.storage.busy_timeout_s):
                raise ServiceError("this thread is busy in another window; try again in a moment")
        with lock, self._storage_errors():
            if from_checkpoint is None and self._flagged_pending(thread_id):
                raise ServiceError(
                    "the last reply in this thread did not finish: resume or discard it first"
                )
            # After a switch to another branch the message continues it; the
            # new checkpoints are the newest, so the choice is done (also for
            # a regenerate or an edit, which name their own starting point).
            chosen = self.index.chosen_head(thread_id)
            if chosen is not None:
                from_checkpoint = from_checkpoint or chosen
                self.index.choose_head(thread_id, None)
            from langchain_core.messages import HumanMessage

            msg = HumanMessage(content=text, id=message_id or str(uuid.uuid4()))
            self.index.set_run_state(thread_id, "running")
            title = one_line(text, 60)
            self.index.set_auto_title(thread_id, title)
            yield from self._run(
                thread_id,
                {"messages": [msg]},
                self._config(thread_id, from_checkpoint),
                user_message=ChatMessage(id=str(msg.id), role="user", text=text),
                held=message_id is not None,
            )

    def _pending(self, thread_id: str) -> bool:
        with _reading(thread_id):
            snap = self.graph.get_state(self._config(thread_id))
        return bool(snap.next or snap.tasks)

    def _flagged_pending(self, thread_id: str) -> bool:
        """Cheap check first: only a thread marked running can have a pending run."""
        return self.index.is_running(thread_id) and self._pending(thread_id)

    def pending_runs(self) -> list[PendingRun]:
        """Threads whose last reply did not finish (after a crash or a failure)."""
        out: list[PendingRun] = []
        for tid in self.index.running(self.user_id):
            lock = self.backend.lock(tid)
            if not lock.try_acquire():
                # A live run (this process or another instance): not interrupted.
                continue
            with lock:
                if not self._pending(tid):
                    # Marked running but nothing was left undone: the crash came
                    # before the message was saved, or after the reply was.
                    self._finish_bookkeeping(tid, [])
                    continue
            from langchain_core.messages import HumanMessage

            self._index_interrupted(tid)
            info = self.get_thread(tid)
            values = self._state_values(tid)
            msgs = values.get("messages", [])
            user_text = ""
            if msgs and isinstance(msgs[-1], HumanMessage):
                user_text = str(msgs[-1].content)
            else:
                # The input is still a pending write of the input checkpoint.
                user_text = self._pending_input_text(tid)
            out.append(PendingRun(tid, info.title, user_text, self.index.partial(tid)))
        return out

    def recover(
        self, *, resume: bool | None = None, on_event: Callable[[Event], None] | None = None
    ) -> RecoveryReport:
        """Start-up recovery over EVERY thread marked running (all users).

        A run left unfinished by a crash is resumed (``resume``, default the
        ``[recovery] auto_resume`` setting; only this user's threads) or left
        marked interrupted for :meth:`pending_runs`; a thread marked running
        with nothing left undone is marked idle. A thread whose lock another
        instance holds is being written right now, so it is left alone.
        """
        if resume is None:
            resume = self.settings.recovery.auto_resume
        report = RecoveryReport()
        for tid in self.index.running():
            lock = self.backend.lock(tid)
            if not lock.try_acquire():
                if self.index.owner(tid) == self.user_id:
                    report.busy.append(tid)
                continue
            with lock:
                if not self._pending(tid):
                    self._finish_bookkeeping(tid, [])
                    report.cleared.append(tid)
                    continue
            if self.index.owner(tid) != self.user_id:
                report.other_users += 1
                continue
            if not resume:
                report.interrupted.append(tid)
                continue
            reason = ""
            try:
                for ev in self.resume(tid):
                    if on_event is not None:
                        on_event(ev)
                    if isinstance(ev, ReplyFailed):
                        reason = ev.reason
            except ServiceError as exc:
                reason = str(exc)
            if reason:
                report.failed.append((tid, reason))
            else:
                report.resumed.append(tid)
        return report

    def _index_interrupted(self, thread_id: str) -> None:
        """A turn left unfinished: the thread lists its real message count and
        History shows the person's message (both are otherwise written when a
        turn finishes)."""
        cps = self.index.checkpoints(thread_id, newest=8)
        start = next((c for c in reversed(cps) if c.source == "input"), None)
        if start is None or start.kind:
            return
        text = self._input_text_at(thread_id, start.id)
        if not text:
            return
        msgs = self._state_values(thread_id).get("messages", [])
        # The message is in the state once the turn's first step ran; before
        # that it is only the input checkpoint's pending value.
        in_state = any(getattr(m, "content", None) == text for m in msgs[-2:])
        # Only labels: a busy or read-only database leaves them for later.
        with contextlib.suppress(*storage_errors()):
            self.index.add_note(thread_id, start.id, "user", "you: " + one_line(text, 70))
            self.index.set_count(thread_id, len(msgs) + (0 if in_state else 1))

    def _pending_input_text(self, thread_id: str) -> str:
        from langchain_core.messages import HumanMessage

        with _reading(thread_id):
            tup = self.backend.saver.get_tuple(self._config(thread_id))
        for _task, channel, value in (tup.pending_writes or []) if tup else []:
            if channel == "messages" and isinstance(value, list):
                for m in value:
                    if isinstance(m, HumanMessage):
                        return str(m.content)
        return ""

    def resume(self, thread_id: str) -> Iterator[Event]:
        """Finish a reply that was interrupted; produces exactly one reply."""
        self.get_thread(thread_id)
        with self._lock(thread_id, self.settings.storage.busy_timeout_s), self._storage_errors():
            if not self._pending(thread_id):
                self._finish_bookkeeping(thread_id, [])
                raise ServiceError("nothing to resume: the last reply finished")
            self.index.choose_head(thread_id, None)  # the reply ends the newest branch
            self.index.set_run_state(thread_id, "running")
            yield from self._run(thread_id, None, self._config(thread_id), user_message=None)

    def discard(self, thread_id: str) -> bool:
        """Drop an interrupted turn: the branch returns to before it (kept in history).

        False when there was no interrupted turn: nothing is changed then
        (beyond clearing a stale "running" mark), so the thread keeps its place.
        """
        self.get_thread(thread_id)
        with self._lock(thread_id, self.settings.storage.busy_timeout_s):
            if not self._pending(thread_id):
                if self.index.is_running(thread_id):
                    self._finish_bookkeeping(thread_id, [])
                return False
            cps = self.index.checkpoints(thread_id)
            by_id = {c.id: c for c in cps}
            cur: CheckpointInfo | None = cps[-1]
            while cur is not None and cur.source != "input":
                cur = by_id.get(cur.parent_id or "")
            if cur is None:
                raise ServiceError("cannot find where the interrupted turn started")
            self._fork(thread_id, cur.id, "rewind", "discarded an interrupted reply")
            self._finish_bookkeeping(thread_id, [])
            return True

    def cancel(self, thread_id: str) -> None:
        """Stop the reply being written in this process (keeps what was written)."""
        ev = self._cancels.get(thread_id)
        if ev is not None:
            ev.set()

    def regenerate(self, thread_id: str) -> Iterator[Event]:
        """Ask again: the last user message is sent again from just before it."""
        for cp in self.branch_timeline(thread_id):
            if cp.kind == "user":
                text = self._input_text_at(thread_id, cp.id)
                yield from self.send(thread_id, text, from_checkpoint=cp.id)
                return
        raise ServiceError("there is no message to regenerate a reply for")

    def edit_and_resend(self, thread_id: str, message_id: str, new_text: str) -> Iterator[Event]:
        """Fork the thread at an earlier user message and send ``new_text`` instead."""
        cp = self.checkpoint_before_message(thread_id, message_id)
        yield from self.send(thread_id, new_text, from_checkpoint=cp)

    def checkpoint_before_message(self, thread_id: str, message_id: str) -> str:
        """The input checkpoint at which ``message_id`` was sent (current branch)."""
        tl = self.branch_timeline(thread_id)
        for cp in tl:
            if cp.kind == "user" and self._input_message_id_at(thread_id, cp.id) == message_id:
                return cp.id
        raise ServiceError("that message is not on the current branch of this thread")

    def _input_writes(self, thread_id: str, checkpoint_id: str) -> list[BaseMessage]:
        from langchain_core.messages import HumanMessage

        with _reading(thread_id, checkpoint_id):
            tup = self.backend.saver.get_tuple(self._config(thread_id, checkpoint_id))
        out: list[BaseMessage] = []
        for _task, channel, value in (tup.pending_writes or []) if tup else []:
            if channel == "messages" and isinstance(value, list):
                out += [m for m in value if isinstance(m, HumanMessage)]
        return out

    def _input_text_at(self, thread_id: str, checkpoint_id: str) -> str:
        msgs = self._input_writes(thread_id, checkpoint_id)
        return str(msgs[0].content) if msgs else ""

    def _input_message_id_at(self, thread_id: str, checkpoint_id: str) -> str:
        msgs = self._input_writes(thread_id, checkpoint_id)
        return str(msgs[0].id) if msgs else ""

    def _backoff(self, attempt: int, err: ModelCallError) -> float:
        """Seconds before the next attempt: the server's Retry-After, else
        tenacity's exponential backoff with jitter, capped.

        The attempt loop itself is in ``_run``, not a tenacity decorator: it
        has to yield a Retrying event and wait cancellably between attempts.
        """
        m = self.settings.model
        if err.retry_after is not None:
            return float(err.retry_after)
        wait = tenacity.wait_exponential_jitter(
            multiplier=m.backoff_initial_s, max=m.backoff_max_s, jitter=m.backoff_initial_s
        )
        state = cast(tenacity.RetryCallState, SimpleNamespace(attempt_number=attempt))
        return float(wait(state))

    def _run(
        self,
        thread_id: str,
        graph_input: dict[str, Any] | None,
        config: RunnableConfig,
        *,
        user_message: ChatMessage | None,
        held: bool = False,
    ) -> Iterator[Event]:
        cancel = threading.Event()
        self._cancels[thread_id] = cancel
        ctx = ChatContext(user_id=self.user_id, cancel=cancel)
        max_attempts = self.settings.model.max_attempts
        attempt = 1
        acked = False
        partial: list[str] = []
        learned: list[dict[str, str]] = []
        summarised = 0  # a new running summary of this many messages was written
        values: dict[str, Any] = {}
        try:
            while True:
                partial.clear()
                last_save = time.monotonic()
                # On the last attempt a failed profile extraction or summary
                # is recorded or stood in for instead of failing the turn.
                ctx.final_attempt = attempt >= max_attempts
                try:
                    for mode, chunk in self.graph.stream(
                        cast(Any, graph_input),
                        config,
                        context=ctx,
                        stream_mode=["custom", "updates", "values"],
                        durability="sync",
                    ):
                        if not acked and user_message is not None:
                            # The first event comes after the input checkpoint
                            # is on disk: the message is acknowledged.
                            acked = True
                            yield self._saved(thread_id, user_message, held)
                            yield ThreadChanged(self.get_thread(thread_id))
                        if mode == "custom" and isinstance(chunk, dict) and "token" in chunk:
                            partial.append(chunk["token"])
                            yield Token(thread_id, chunk["token"])
                            now = time.monotonic()
                            if now - last_save >= PARTIAL_SAVE_INTERVAL_S:
                                self.index.save_partial(thread_id, "".join(partial))
                                last_save = now
                        elif mode == "values" and isinstance(chunk, dict):
                            values = chunk
                        elif mode == "updates" and isinstance(chunk, dict):
                            wrote = chunk.get("respond")
                            if isinstance(wrote, dict) and wrote.get("history_summary"):
                                summarised = int(wrote["history_summary"].get("covers", 0))
                            upd = chunk.get("remember")
                            if isinstance(upd, dict) and upd.get("learned"):
                                learned = list(upd["learned"])
                                self.changes.publish("profile")
                                yield ProfileUpdated(self.profile())
                            if isinstance(upd, dict) and upd.get("profile_error"):
                                yield ProfileNotUpdated(thread_id, str(upd["profile_error"]))
                    break
                except Exception as exc:
                    if isinstance(exc, storage_errors()):
                        yield from self._storage_failed(
                            thread_id, exc, user_message, acked, partial, held
                        )
                        return
                    err = classify(exc)
                    if not acked and user_message is not None and self._pending(thread_id):
                        acked = True
                        yield self._saved(thread_id, user_message, held)
                    text_so_far = "".join(partial)
                    if text_so_far:
                        self.index.save_partial(thread_id, text_so_far)
                    if cancel.is_set():
                        yield from self._stop_pending(thread_id, text_so_far)
                        return
                    graph_input = None
                    config = self._config(thread_id)
                    too_long = (
                        err.retry_after is not None
                        and err.retry_after > self.settings.model.max_retry_after_s
                    )
                    if not err.transient or attempt >= max_attempts or too_long:
                        reason = err.user_message
                        if too_long:
                            reason = (
                                f"rate limited: the server asks to wait {err.retry_after:.0f} s;"
                                " try again later"
                            )
                        elif err.transient:
                            reason = f"{reason} (gave up after {attempt} attempts)"
                        can_retry = self._pending(thread_id)
                        if can_retry:
                            self._index_interrupted(thread_id)
                        yield ReplyFailed(
                            thread_id, reason, can_retry=can_retry, partial=text_so_far
                        )
                        return
                    delay = self._backoff(attempt, err)
                    attempt += 1
                    reason = err.user_message
                    if isinstance(err, StreamInterrupted):
                        reason = "the reply stream was interrupted"
                    yield Retrying(thread_id, attempt, max_attempts, delay, reason)
                    if self._wait(delay, cancel):
                        yield from self._stop_pending(thread_id, text_so_far)
                        return
            yield from self._finish(thread_id, learned, values, summarised)
        finally:
            self._cancels.pop(thread_id, None)

    def _storage_message(self, exc: Exception) -> str:
        from chat_app.core.sqlite_backend import SqliteBackend, describe_sqlite_error

        if isinstance(exc, ProfileStoreError):
            # A database error under it is described like any other, and named.
            cause = exc.__cause__
            db_errors = tuple(e for e in storage_errors() if e is not ProfileStoreError)
            if not isinstance(cause, db_errors):
                return str(exc)
            return self._storage_message(cause) + " (profile store)"
        if not isinstance(exc, sqlite3.Error):
            from chat_app.core.pg_backend import describe_pg_error

            return describe_pg_error(self.backend.location, exc)
        if isinstance(self.backend, SqliteBackend):
            return self.backend.describe_error(exc)  # also stops writes to a damaged file
        return describe_sqlite_error(Path(self.backend.location), exc)

    def describe_storage_error(self, exc: Exception) -> str:
        """One line for a storage error that reached the caller (see _storage_message)."""
        return self._storage_message(exc)

    @contextlib.contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """A database error (busy, read-only, disk full, damaged) as one clear line."""
        try:
            yield
        except storage_errors() as exc:
            raise ServiceError(self._storage_message(exc)) from None

    def _storage_failed(
        self,
        thread_id: str,
        exc: Exception,
        user_message: ChatMessage | None,
        acked: bool,
        partial: list[str],
        held: bool,
    ) -> Iterator[Event]:
        """The reply could not be saved: say why; what is on disk stays there."""
        pending = False
        with contextlib.suppress(*storage_errors()):
            pending = self._pending(thread_id)
        if not acked and user_message is not None and pending:
            with contextlib.suppress(*storage_errors()):
                yield self._saved(thread_id, user_message, held)
        text_so_far = "".join(partial)
        if text_so_far:
            with contextlib.suppress(*storage_errors()):
                self.index.save_partial(thread_id, text_so_far)
        yield ReplyFailed(
            thread_id, self._storage_message(exc), can_retry=pending, partial=text_so_far
        )

    def _saved(self, thread_id: str, message: ChatMessage, held: bool) -> UserMessageSaved:
        """The message's input checkpoint is on disk: the outbox lets it go."""
        if held:
            self.outbox.remove(message.id)
        return UserMessageSaved(thread_id, message)

    def _wait(self, delay: float, cancel: threading.Event) -> bool:
        """Sleep ``delay`` unless cancelled; True when cancelled."""
        if self._sleep is not time.sleep:
            self._sleep(delay)
            return cancel.is_set()
        return cancel.wait(delay)

    def _stop_pending(self, thread_id: str, text: str) -> Iterator[Event]:
        """The person stopped while no reply was being streamed: keep what was written."""
        from langchain_core.messages import AIMessage

        reply = AIMessage(
            content=text,
            id=str(uuid.uuid4()),
            additional_kwargs={"status": "stopped"},
            response_metadata={"finish_reason": "stopped"},
        )
        self.graph.update_state(self._config(thread_id), {"messages": [reply]}, as_node="respond")
        ctx = ChatContext(user_id=self.user_id)
        values = self.graph.invoke(None, self._config(thread_id), context=ctx, durability="sync")
        yield from self._finish(thread_id, [], values)

    def _finish(
        self,
        thread_id: str,
        learned: list[dict[str, str]],
        values: dict[str, Any],
        summarised: int = 0,
    ) -> Iterator[Event]:
        """The run is complete: index it and announce the reply."""
        raw: list[AnyMessage] = list(values.get("messages") or [])
        if not raw:
            raw = list(self._state_values(thread_id).get("messages", []))
        # Only the tail is converted: the rest is already indexed.
        tail = _chat_messages(raw[-2:])
        usage = getattr(raw[-1], "usage_metadata", None) if raw else None
        tokens = (
            (int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
            if isinstance(usage, dict)
            else None
        )
        self._finish_bookkeeping(
            thread_id,
            learned,
            tail,
            len(raw),
            check_pending=False,
            tokens=tokens,
            summarised=summarised,
        )
        if tail and tail[-1].role == "assistant":
            yield ReplyFinished(thread_id, tail[-1])
        yield ThreadChanged(self.get_thread(thread_id))

    def _finish_bookkeeping(
        self,
        thread_id: str,
        learned: list[dict[str, str]],
        msgs: list[ChatMessage] | None = None,
        count: int | None = None,
        *,
        check_pending: bool = True,
        tokens: tuple[int, int] | None = None,
        summarised: int = 0,
    ) -> None:
        """Index the finished turn: counts, search text, timeline notes, and the
        reply's ``tokens`` (request, reply) on its checkpoint."""
        if msgs is None:
            msgs = _chat_messages(self._state_values(thread_id).get("messages", []))
        notes: list[tuple[str, str, str, bool]] = []
        usage: tuple[str, int, int] | None = None
        # The turn's own checkpoints are the newest few.
        cps = self.index.checkpoints(thread_id, newest=16)
        if cps and not (check_pending and self._pending(thread_id)):
            by_id = {c.id: c for c in cps}
            head = cps[-1]
            last_ai = next((m for m in reversed(msgs) if m.role == "assistant"), None)
            if last_ai is not None and not head.kind:
                summary = "assistant: " + one_line(last_ai.text, 70)
                notes.append((head.id, "assistant", summary, bool(learned)))
                if tokens is not None:
                    usage = (head.id, *tokens)
            step = by_id.get(head.parent_id or "")
            if summarised and step is not None and not step.kind:
                # The step that wrote a new running summary: an entry in History.
                text = f"summary: the first {summarised} messages, as the model now sees them"
                notes.append((step.id, "summary", text, False))
            cur: CheckpointInfo | None = head
            while cur is not None and not (cur.source == "input" and cur.kind):
                if cur.source == "input":
                    text = self._input_text_at(thread_id, cur.id)
                    if text:
                        notes.append((cur.id, "user", "you: " + one_line(text, 70), False))
                    break
                cur = by_id.get(cur.parent_id or "")
        recent = msgs[-2:]
        self.index.record_turn(
            thread_id,
            len(msgs) if count is None else count,
            [(m.id, m.role, m.text) for m in recent if m.id],
            notes,
            usage,
        )

    # -- rewind -----------------------------------------------------------------

    def _fork(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> str:
        self.index.choose_head(thread_id, None)  # the new checkpoint is the newest
        new_cfg = self.graph.update_state(
            self._config(thread_id, checkpoint_id), {"learned": []}, as_node="remember"
        )
        new_id = str(new_cfg["configurable"]["checkpoint_id"])
        self.index.add_note(thread_id, new_id, kind, summary)
        return new_id

    def rewind(self, thread_id: str, checkpoint_id: str) -> list[ChatMessage]:
        """Continue from an old checkpoint: a new branch starts there; nothing is deleted."""
        self.get_thread(thread_id)
        self._check_checkpoint(thread_id, checkpoint_id)
        with self._lock(thread_id, self.settings.storage.busy_timeout_s):
            if self._flagged_pending(thread_id):
                raise ServiceError(
                    "the last reply in this thread did not finish: resume or discard it first"
                )
            kind, summary = self.index.note(thread_id, checkpoint_id) or ("", "")
            if kind == "user":
                label = f"rewound to before “{summary}”"
            elif summary:
                label = f"rewound to “{summary}”"
            else:
                label = "rewound to an earlier step"
            head = self._fork(thread_id, checkpoint_id, "rewind", label)
            # The new head has the messages of the checkpoint it continues
            # from, which the fork has just rebuilt (the saver keeps them):
            # read there, not by walking the writes back from the head again.
            msgs = _chat_messages(self._state_values(thread_id, checkpoint_id).get("messages", []))
            self._message_cache.put(thread_id, head, msgs)
            self.index.set_count(thread_id, len(msgs))
            return msgs

    def back_to_latest(self, thread_id: str) -> list[ChatMessage]:
        """Show the latest conversation again (after a rewind or a switch to
        another branch); nothing is written to the checkpoints.

        The latest conversation is the branch extended most recently: a rewind
        checkpoint counts as the older one it forked from, so the branch the
        person came from wins over an empty rewind.
        """
        hist = self.history(thread_id)
        by_id = {c.id: c for c in hist.checkpoints}

        def content(cp: CheckpointInfo) -> str:
            while cp.kind == "rewind" and cp.parent_id in by_id:
                cp = by_id[cp.parent_id]
            return cp.id

        parents = {c.parent_id for c in hist.checkpoints if c.parent_id}
        leaves = [c for c in hist.checkpoints if c.id not in parents]
        if not leaves:
            return self.load_messages(thread_id)
        # Newest content first; of equal content the leaf itself (not a rewind).
        latest = max(leaves, key=lambda c: (content(c), c.kind != "rewind", c.id))
        return self.show_branch(thread_id, latest.id)

    def show_branch(self, thread_id: str, checkpoint_id: str) -> list[ChatMessage]:
        """Make the branch ending at ``checkpoint_id`` the one the thread shows and
        the next message continues. Only the choice is kept (the app's own
        table); no checkpoint is written, so switching back and forth is free."""
        self.get_thread(thread_id)
        self._check_checkpoint(thread_id, checkpoint_id)
        with self._lock(thread_id, self.settings.storage.busy_timeout_s):
            if self.index.is_running(thread_id):
                raise ServiceError(
                    "a reply in this thread is being written or did not finish: "
                    "wait for it, or resume or discard it first"
                )
            newest = self.index.newest_checkpoint(thread_id)
            chosen = None if checkpoint_id == newest else checkpoint_id
            if chosen != self.index.chosen_head(thread_id):
                self.index.choose_head(thread_id, chosen)
        # The thread's place in the list stays: looking at a branch changes nothing.
        return self.load_messages(thread_id)

    # -- what the model is told ------------------------------------------------------

    def history_summary(self, thread_id: str) -> HistorySummary | None:
        """The running summary at the thread's head (None while everything fits)."""
        from graphs.history import valid_summary

        self.get_thread(thread_id)
        values = self._state_values(thread_id)
        found = valid_summary(values.get("history_summary"), values.get("messages", []))
        if found is None:
            return None
        return HistorySummary(found["text"], found["covers"], found["by"])

    def profile_not_updated(self, thread_id: str) -> str:
        """Why the profile missed the thread's last messages ("" when it did not)."""
        self.get_thread(thread_id)
        return str(self._state_values(thread_id).get("profile_error") or "")

    def retry_profile(self, thread_id: str) -> Iterator[Event]:
        """Read again the messages whose profile extraction failed (no new reply).

        The remember step runs once more on the thread's head, in the same
        retry layer as a turn; it yields ProfileUpdated or ProfileNotUpdated.
        """
        self.get_thread(thread_id)
        with self._lock(thread_id, self.settings.storage.busy_timeout_s), self._storage_errors():
            if self._flagged_pending(thread_id):
                raise ServiceError("the last reply in this thread did not finish: resume it first")
            if not self._state_values(thread_id).get("profile_pending"):
                return
            config = self.graph.update_state(self._config(thread_id), {}, as_node="respond")
            ctx = ChatContext(user_id=self.user_id)
            attempt, max_attempts = 1, self.settings.model.max_attempts
            while True:
                ctx.final_attempt = attempt >= max_attempts
                try:
                    for chunk in self.graph.stream(
                        None, config, context=ctx, stream_mode="updates", durability="sync"
                    ):
                        upd = chunk.get("remember") if isinstance(chunk, dict) else None
                        if isinstance(upd, dict) and upd.get("learned"):
                            self.changes.publish("profile")
                            yield ProfileUpdated(self.profile())
                        if isinstance(upd, dict) and upd.get("profile_error"):
                            yield ProfileNotUpdated(thread_id, str(upd["profile_error"]))
                    return
                except ModelCallError as err:
                    if not err.transient or attempt >= max_attempts:
                        raise ServiceError(err.user_message) from None
                    self._sleep(self._backoff(attempt, err))
                    attempt += 1
                    config = self._config(thread_id)

    # -- profile ------------------------------------------------------------------

    def profile(self) -> list[ProfileFact]:
        from graphs import profile as profile_mod

        with self._storage_errors():
            return profile_mod.read_profile(self.backend.store, self.user_id)

    def edit_fact(self, key: str, value: str, *, create: bool = False) -> ProfileFact:
        """Correct a fact; ``create`` adds it when the profile has no such key."""
        from graphs import profile as profile_mod

        value = one_line(clean_input(value), 200)
        if not value:
            raise ServiceError("a profile fact cannot be empty; use forget to remove it")
        key = one_line(clean_input(key), 80)
        if not key:
            raise ServiceError("a profile fact needs a name")
        try:
            with self._storage_errors():
                fact = profile_mod.set_fact(
                    self.backend.store, self.user_id, key, value, create=create
                )
            self.changes.publish("profile")
            return fact
        except KeyError:
            raise ServiceError(f"no profile fact named {one_line(key, 40)!r}") from None

    def forget(self, key: str) -> None:
        from graphs import profile as profile_mod

        with self._storage_errors():
            found = profile_mod.forget(self.backend.store, self.user_id, key)
        if not found:
            raise ServiceError(f"no profile fact named {one_line(key, 40)!r}")
        self.changes.publish("profile")

    def restore_fact(self, fact: ProfileFact) -> None:
        """Put back a fact that was just forgotten, with its provenance (undo)."""
        from graphs import profile as profile_mod

        with self._storage_errors():
            profile_mod.restore_fact(self.backend.store, self.user_id, fact)
        self.changes.publish("profile")

    def forget_all(self) -> int:
        from graphs import profile as profile_mod

        with self._storage_errors():
            n = profile_mod.forget_all(self.backend.store, self.user_id)
        self.changes.publish("profile")
        return n

    # -- export -------------------------------------------------------------------

    def export_thread(self, thread_id: str, fmt: str = "md") -> str:
        """Markdown to read, or JSON (every branch) that :meth:`import_thread` takes."""
        if fmt == "json":
            from chat_app.core import transfer

            return transfer.export_json(self, thread_id)
        info = self.get_thread(thread_id)
        msgs = self.load_messages(thread_id)
        if fmt != "md":
            raise ServiceError(f"unknown export format {fmt!r}; use md or json")
        lines = [f"# {info.title or 'Untitled thread'}", ""]
        for m in msgs:
            who = "You" if m.role == "user" else "Assistant"
            suffix = " (stopped)" if m.status == "stopped" else ""
            lines += [f"**{who}**{suffix}:", "", m.text, ""]
        return "\n".join(lines)

    def import_thread(self, data: str, *, new_id: bool = False) -> ThreadInfo:
        """Rebuild a thread from a JSON export (all branches; the model is not called).

        A malformed or hostile file is refused (ServiceError, one line) before
        anything is written; ``new_id`` imports a copy under a fresh id.
        """
        from chat_app.core import transfer

        return transfer.import_thread(self, data, new_id=new_id)
