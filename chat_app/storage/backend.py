"""What the service needs from a storage backend, and how one is opened.

A backend bundles the checkpointer, the profile store, the app's own index
(threads, timeline notes, partial replies) and the per-thread writer lock.
SQLite is the embedded default; PostgreSQL and Redis are for several
instances; memory
keeps nothing once the process ends (demos, trials, tests).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.store.base import BaseStore

    from chat_app.config import Settings
    from chat_app.service.events import ChatMessage, CheckpointInfo, ThreadInfo
    from chat_app.storage.upkeep import Upkeep


class WriterLock(Protocol):
    """One writer per thread; a dead holder must not keep it."""

    def try_acquire(self) -> bool: ...

    def acquire(self, timeout_s: float, poll_s: float = 0.05) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> WriterLock: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class HeldLock:
    """A writer lock as a context manager: the block runs holding it (taken
    before), and leaving the block releases it. ``acquire`` polls
    ``try_acquire`` until the deadline; a backend with a blocking wait of its
    own overrides it."""

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def acquire(self, timeout_s: float, poll_s: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class ReadThroughSaver:
    """What a backend without a file of its own says: no database path, and
    the conversation and channel values are read through LangGraph."""

    @property
    def db_path(self) -> Path | None:
        return None

    def head_messages(self, thread_id: str) -> list[ChatMessage] | None:
        return None  # read through the graph

    def plain_value(
        self, thread_id: str, checkpoint_id: str | None, channel: str
    ) -> tuple[bool, Any]:
        return False, None  # read through the saver


class Index(Protocol):
    """The app's own tables (threads, search text, timeline notes, partial
    replies): ``chat_app.storage.sqlite.index.ThreadIndex`` on SQLite,
    ``chat_app.storage.postgres.index.PgThreadIndex`` on PostgreSQL."""

    def create(self, user_id: str, title: str = "", thread_id: str | None = None) -> ThreadInfo: ...

    def get(self, user_id: str, thread_id: str) -> ThreadInfo | None: ...

    def owner(self, thread_id: str) -> str | None: ...

    def ids_with_prefix(self, user_id: str, prefix: str, limit: int) -> list[str]: ...

    def chosen_head(self, thread_id: str) -> str | None: ...

    def choose_head(self, thread_id: str, checkpoint_id: str | None) -> None: ...

    def list_threads(
        self, user_id: str, limit: int | None = None, query: str = ""
    ) -> list[ThreadInfo]: ...

    def rename(self, thread_id: str, title: str) -> None: ...

    def set_auto_title(self, thread_id: str, title: str) -> None: ...

    def set_run_state(self, thread_id: str, state: str) -> None: ...

    def is_running(self, thread_id: str) -> bool: ...

    def running(self, user_id: str | None = None) -> list[str]: ...

    def record_turn(
        self,
        thread_id: str,
        message_count: int,
        messages: Iterable[tuple[str, str, str]],
        notes: Iterable[tuple[str, str, str, bool]],
        usage: tuple[str, int, int] | None = None,
    ) -> None: ...

    def add_note(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> None: ...

    def note(self, thread_id: str, checkpoint_id: str) -> tuple[str, str] | None: ...

    def stamp(self, user_id: str) -> tuple[int, float]: ...

    def set_count(self, thread_id: str, message_count: int) -> None: ...

    def set_times(self, thread_id: str, created_at: float, updated_at: float) -> None: ...

    def unindexed(self) -> list[tuple[str, str, str]]:
        """``(thread id, first checkpoint id, last checkpoint id)`` of every thread
        in the checkpoint tables with no row here (written by another program)."""
        ...

    def save_partial(self, thread_id: str, text: str) -> None: ...

    def partial(self, thread_id: str) -> str: ...

    def checkpoints(self, thread_id: str, newest: int | None = None) -> list[CheckpointInfo]: ...

    def newest_checkpoint(self, thread_id: str) -> str | None: ...

    def delete(self, thread_id: str) -> None: ...


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def saver(self) -> BaseCheckpointSaver[str]: ...

    @property
    def store(self) -> BaseStore: ...

    @property
    def index(self) -> Index: ...

    @property
    def location(self) -> str:
        """Where the data lives, for the status line and doctor (no secrets)."""
        ...

    @property
    def db_path(self) -> Path | None:
        """The database file, for embedded backends."""
        ...

    def lock(self, thread_id: str) -> WriterLock: ...

    def head_messages(self, thread_id: str) -> list[ChatMessage] | None:
        """The conversation at the head, read directly; None: read it through the graph."""
        ...

    def plain_value(
        self, thread_id: str, checkpoint_id: str | None, channel: str
    ) -> tuple[bool, Any]:
        """A channel's plain value at a checkpoint (None: the newest) read
        directly: ``(True, value)``; ``(False, None)``: read it through the saver."""
        ...

    def one_transaction(self) -> AbstractContextManager[tuple[BaseCheckpointSaver[str], Index]]:
        """A saver and an index whose writes are committed together at the end
        of the block, or not at all (an exception, a killed process)."""
        ...

    def upkeep(self) -> Upkeep:
        """Retention, sizes and compaction of this backend's storage (prune, doctor)."""
        ...

    def close(self) -> None: ...


def open_backend(settings: Settings) -> Backend:
    if settings.storage.backend == "postgres":
        from chat_app.storage.postgres.backend import open_postgres  # type: ignore[import-not-found,unused-ignore]

        backend: Backend = open_postgres(settings)
        return backend
    if settings.storage.backend == "redis":
        from chat_app.storage.redis.backend import open_redis_backend

        return open_redis_backend(settings)
    if settings.storage.backend == "memory":
        from chat_app.storage.memory.backend import open_memory_backend

        return open_memory_backend(settings)
    from chat_app.storage.sqlite.backend import open_sqlite_backend

    return open_sqlite_backend(settings.data_dir, settings.storage.busy_timeout_s)
