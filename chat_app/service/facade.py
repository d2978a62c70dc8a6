"""ChatService: the one object the UI and the CLI talk to.

It owns the compiled graph, the checkpointer, the profile store, the threads
index, the per-thread locks and the single retry layer. Everything it returns
is plain data (``chat_app.service.events``); it never imports Textual.

This class is the facade: it holds the service's state and set-up, and its
operations live in modules along the service's seams (``threads``,
``reading``, ``runs``, ``recovery``, ``history``, ``profile``, ``transfer``),
as functions of the service that the class takes as its methods.

Threading: methods are synchronous and safe to call from worker threads; one
reply per thread at a time (a file lock shared with other processes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chat_app.config import Settings
from chat_app.service import errors as _errors
from chat_app.service import history as _history
from chat_app.service import profile as _profile
from chat_app.service import reading as _reading
from chat_app.service import recovery as _recovery
from chat_app.service import runs as _runs
from chat_app.service import threads as _threads
from chat_app.service.agent import ModelFactory, check_model_settings, default_model_factory
from chat_app.service.changes import NotifyingIndex, open_change_feed
from chat_app.service.errors import ServiceError
from chat_app.service.local_state import LOCAL_FILE, LocalValues
from chat_app.service.outbox import Outbox
from chat_app.service.short_term import MessageCache, SessionContext, open_short_term
from chat_app.storage.backend import Backend, open_backend
from chat_app.storage.private_files import make_private_dir
from graphs.errors import ModelCallError

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.
    from langchain_core.language_models.chat_models import BaseChatModel
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.store.base import BaseStore

    from chat_app.service.events import ThreadInfo


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
        # instances; see chat_app/service/short_term.py and changes.py.
        self.short_term = open_short_term(self._short_term_url(settings))
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

    def _short_term_url(self, settings: Settings) -> str:
        """In memory nothing leaves the process, not even to Redis; the redis
        backend's Redis also holds the short-term tier and carries the change
        feed unless [short_term] names another."""
        if self.backend.name == "memory":
            return ""
        if self.backend.name == "redis" and not settings.short_term.redis_url:
            return str(getattr(self.backend, "url", ""))
        return settings.short_term.redis_url

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
        (chat_app/service/outbox.py); opened on first use."""
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

    # -- short-term tier and other instances ------------------------------------

    @property
    def short_term_status(self) -> str:
        """``"ok"``, ``"degraded"`` (Redis configured but unreachable: the app
        runs on the database alone and reconnects by itself) or
        ``"in-process"`` (no Redis configured). Never blocks."""
        return self.short_term.status

    # -- export -------------------------------------------------------------------

    def export_thread(self, thread_id: str, fmt: str = "md") -> str:
        """Markdown to read, or JSON (every branch) that :meth:`import_thread` takes."""
        from chat_app.service import transfer

        return transfer.export_thread(self, thread_id, fmt)

    def import_thread(self, data: str, *, new_id: bool = False) -> ThreadInfo:
        """Rebuild a thread from a JSON export (all branches; the model is not called).

        A malformed or hostile file is refused (ServiceError, one line) before
        anything is written; ``new_id`` imports a copy under a fresh id.
        """
        from chat_app.service import transfer

        return transfer.import_thread(self, data, new_id=new_id)

    # -- the service's parts, each in its own module ---------------------------

    # errors
    _storage_message = _errors._storage_message
    describe_storage_error = _errors.describe_storage_error
    _storage_errors = _errors._storage_errors
    _outbox_errors = _errors._outbox_errors

    # reading
    _config = _reading._config
    _state_values = _reading._state_values
    load_messages = _reading.load_messages
    _check_checkpoint = _reading._check_checkpoint
    _head_messages = _reading._head_messages

    # threads
    subscribe = _threads.subscribe
    poll_changes = _threads.poll_changes
    _index_changed = _threads._index_changed
    list_threads = _threads.list_threads
    threads_stamp = _threads.threads_stamp
    create_thread = _threads.create_thread
    new_thread = _threads.new_thread
    get_thread = _threads.get_thread
    resolve_thread_id = _threads.resolve_thread_id
    rename_thread = _threads.rename_thread
    delete_thread = _threads.delete_thread

    # runs
    _lock = _runs._lock
    check_message = _runs.check_message
    send = _runs.send
    cancel = _runs.cancel
    regenerate = _runs.regenerate
    edit_and_resend = _runs.edit_and_resend
    _backoff = _runs._backoff
    _run = _runs._run
    _storage_failed = _runs._storage_failed
    _saved = _runs._saved
    _wait = _runs._wait
    _stop_pending = _runs._stop_pending
    _finish = _runs._finish
    _finish_bookkeeping = _runs._finish_bookkeeping

    # recovery
    hold = _recovery.hold
    give_back = _recovery.give_back
    unsent_messages = _recovery.unsent_messages
    _message_saved = _recovery._message_saved
    _pending = _recovery._pending
    _flagged_pending = _recovery._flagged_pending
    pending_runs = _recovery.pending_runs
    recover = _recovery.recover
    _index_interrupted = _recovery._index_interrupted
    _pending_input_text = _recovery._pending_input_text
    resume = _recovery.resume
    discard = _recovery.discard

    # history
    history = _history.history
    branch_timeline = _history.branch_timeline
    checkpoint_before_message = _history.checkpoint_before_message
    _input_writes = _history._input_writes
    _input_text_at = _history._input_text_at
    _input_message_id_at = _history._input_message_id_at
    _fork = _history._fork
    rewind = _history.rewind
    back_to_latest = _history.back_to_latest
    show_branch = _history.show_branch
    history_summary = _history.history_summary
    summary_mark = _history.summary_mark

    # profile
    profile_not_updated = _profile.profile_not_updated
    retry_profile = _profile.retry_profile
    profile = _profile.profile
    edit_fact = _profile.edit_fact
    forget = _profile.forget
    restore_fact = _profile.restore_fact
    forget_all = _profile.forget_all
