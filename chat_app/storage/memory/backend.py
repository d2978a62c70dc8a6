"""The memory backend: everything in this process, nothing on disk.

``[storage] backend = "memory"`` (or ``chat-app --memory``) keeps the
checkpoints in LangGraph's ``InMemorySaver`` (with the app's strict
serializer; its own delta-channel walk rebuilds the message list), the
profile in ``InMemoryStore`` and the app's own tables (threads, search text,
timeline notes, partial replies, chosen heads) in the SQLite index on an
in-memory connection. What that index reads from the checkpoint tables of a
database (the thread's checkpoints, its newest, threads nobody indexed) comes
from a small ``checkpoints`` table of the same connection that the saver
fills as it writes: the id, the parent and the step and source of each.

Backends opened in one process for the same data directory share one memory,
as two instances share a database file: a closed service reopened in the
same process finds its threads again. Nothing outlives the process, and the
data directory is never created or read.

One lock guards the saver, the store and the index: the TUI works from
several threads, and LangGraph's in-memory classes are plain dictionaries.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from chat_app.storage.backend import HeldLock, ReadThroughSaver
from chat_app.storage.errors import StorageError
from chat_app.storage.serde import strict_serde
from chat_app.storage.sqlite.index import ThreadIndex

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import (
        ChannelVersions,
        Checkpoint,
        CheckpointMetadata,
        CheckpointTuple,
        DeltaChannelHistory,
    )
    from langgraph.store.base import Op, Result

    from chat_app.config import Settings
    from chat_app.storage.upkeep import Upkeep

NAME = "memory"
LOCATION = "memory (nothing is saved)"

# What the index reads of each checkpoint (see ThreadIndex.checkpoints).
CHECKPOINT_ROWS = """
CREATE TABLE IF NOT EXISTS checkpoints (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    metadata BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);
"""


class MemorySaver(InMemorySaver):
    """InMemorySaver behind a lock, keeping a row per checkpoint in ``conn``."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        super().__init__(serde=strict_serde())
        self.conn = conn
        self.lock = lock

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        conf = config["configurable"]
        step = metadata.get("step", 0)
        row = json.dumps(
            {"step": step if isinstance(step, int) else 0, "source": metadata.get("source", "")}
        )
        with self.lock:
            saved = super().put(config, checkpoint, metadata, new_versions)
            self.conn.execute(
                "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
                " parent_checkpoint_id, metadata) VALUES (?, ?, ?, ?, ?)",
                (
                    conf["thread_id"],
                    conf.get("checkpoint_ns", ""),
                    checkpoint["id"],
                    conf.get("checkpoint_id"),
                    row,
                ),
            )
        return saved

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        with self.lock:
            super().put_writes(config, writes, task_id, task_path)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with self.lock:
            return super().get_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        # Read whole under the lock: another thread may write meanwhile.
        with self.lock:
            found = [*super().list(config, filter=filter, before=before, limit=limit)]
        yield from found

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        with self.lock:
            return dict(super().get_delta_channel_history(config=config, channels=channels))

    def delete_thread(self, thread_id: str) -> None:
        with self.lock:
            super().delete_thread(thread_id)
            self.conn.execute("DELETE FROM checkpoints WHERE thread_id = ?", (thread_id,))

    def snapshot(self) -> tuple[Any, Any, Any]:
        """A copy of everything held (the values are immutable bytes)."""
        storage = {t: {ns: dict(cps) for ns, cps in nss.items()} for t, nss in self.storage.items()}
        writes = {k: dict(v) for k, v in self.writes.items()}
        return storage, writes, dict(self.blobs)

    def restore(self, snap: tuple[Any, Any, Any]) -> None:
        storage, writes, blobs = snap
        self.storage.clear()
        for t, nss in storage.items():
            for ns, cps in nss.items():
                self.storage[t][ns] = cps
        self.writes.clear()
        self.writes.update(writes)
        self.blobs.clear()
        self.blobs.update(blobs)


class MemoryStore(InMemoryStore):
    """InMemoryStore behind a lock (the profile is read and written from several threads)."""

    def __init__(self, lock: threading.RLock) -> None:
        super().__init__()
        self.lock = lock

    def batch(self, ops: Any) -> list[Result]:
        ops_list: list[Op] = list(ops)
        with self.lock:
            return super().batch(ops_list)


class MemoryIndex(ThreadIndex):
    """The SQLite index on the in-memory connection; one writer at a time in this process."""

    def __init__(
        self, conn: sqlite3.Connection, lock: threading.RLock, *, joined: bool = False
    ) -> None:
        self.lock = lock
        with lock:
            super().__init__(conn)
        self.joined = joined

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock, super()._tx() as c:
            yield c


class MemoryLock(HeldLock):
    """One writer per thread within the process: two lock objects for one
    thread exclude each other, as two file locks do."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._held = False

    def try_acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


class Memory:
    """What one memory backend holds; shared by the backends opened on it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.conn.executescript(CHECKPOINT_ROWS)
        self.saver = MemorySaver(self.conn, self.lock)
        self.store = MemoryStore(self.lock)
        self.index = MemoryIndex(self.conn, self.lock)
        self.thread_locks: dict[str, threading.Lock] = {}


class MemoryBackend(ReadThroughSaver):
    """Checkpoints, profile and index in this process's memory."""

    name = NAME

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    @property
    def saver(self) -> MemorySaver:
        return self.memory.saver

    @property
    def store(self) -> MemoryStore:
        return self.memory.store

    @property
    def index(self) -> MemoryIndex:
        return self.memory.index

    @property
    def location(self) -> str:
        return LOCATION

    def lock(self, thread_id: str) -> MemoryLock:
        with self.memory.lock:
            shared = self.memory.thread_locks.setdefault(thread_id, threading.Lock())
        return MemoryLock(shared)

    @contextmanager
    def one_transaction(self) -> Iterator[tuple[MemorySaver, MemoryIndex]]:
        """The saver and an index whose writes are all kept at the end of the
        block, or none of them (the block raised). Other writers wait meanwhile."""
        memory = self.memory
        with memory.lock:
            index = MemoryIndex(memory.conn, memory.lock, joined=True)
            before = memory.saver.snapshot()
            memory.conn.execute("BEGIN IMMEDIATE")
            try:
                yield memory.saver, index
            except BaseException:
                memory.conn.execute("ROLLBACK")
                memory.saver.restore(before)
                raise
            memory.conn.execute("COMMIT")

    def upkeep(self) -> Upkeep:
        """Nothing on disk to prune, measure or compact."""
        raise StorageError(
            "the memory backend keeps nothing on disk: there is nothing to prune or measure"
        )

    def close(self) -> None:
        """Nothing to close: the memory lives on until the process ends."""


_memories: dict[str, Memory] = {}
_memories_lock = threading.Lock()


def open_memory_backend(settings: Settings) -> MemoryBackend:
    """The memory of this process for ``settings.data_dir`` (never touched on disk)."""
    key = str(settings.data_dir)
    with _memories_lock:
        memory = _memories.get(key)
        if memory is None:
            memory = _memories[key] = Memory()
    return MemoryBackend(memory)
