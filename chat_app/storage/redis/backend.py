"""The Redis backend: everything in one Redis, shared by instances on several hosts.

``[storage] backend = "redis"`` with ``[storage] redis_url``:

- checkpoints through LangGraph's ``RedisSaver`` and the profile through its
  ``RedisStore`` (``langgraph-checkpoint-redis``), which need JSON and the
  Query Engine: Redis 8, or Redis Stack 7.2 or later. A server without them
  is refused at open, in one line saying what is missing
  (:mod:`chat_app.storage.redis.probe`). The saver's serializer is its own
  JSON one (it stores checkpoints as JSON documents), made as strict as the
  app's (no pickle, msgpack revives only LangGraph's allow-listed types);
- the app's records beside them (:mod:`chat_app.storage.redis.index`);
- one writer per thread: a renewed lease (:mod:`chat_app.storage.redis.locks`);
- live updates between instances: pub/sub on the same Redis
  (``chat_app.service.changes``).

What the app works around in langgraph-checkpoint-redis 0.5.2 (see README):
``RedisStore.get`` misses items whose namespace has punctuation, and
``search`` those whose namespace is long, so every namespace is stored as one
plain label (:mod:`chat_app.storage.redis.store`); the
app never relies on ``list(before=)`` or on ``checkpoint_ns=""`` filtering:
the index keeps its own record of each root checkpoint (id, parent, step,
source), written by :class:`AppRedisSaver` right after the checkpoint.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chat_app.storage.backend import ReadThroughSaver
from chat_app.storage.errors import StorageError
from chat_app.storage.redis.index import RedisThreadIndex, key
from chat_app.storage.redis.locks import RedisWriterLock
from chat_app.storage.redis.probe import describe_missing, missing_redis_capabilities

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata

    from chat_app.config import Settings
    from chat_app.storage.upkeep import Upkeep

MISSING_DEPS = (
    "storage.backend = 'redis' needs the Redis extra:"
    " pip install 'chat-app[redis]' (langgraph-checkpoint-redis)"
)

try:
    import redis
    from langgraph.checkpoint.redis import RedisSaver
    from langgraph.checkpoint.redis.jsonplus_redis import JsonPlusRedisSerializer

    from chat_app.storage.redis.store import AppRedisStore

    _IMPORT_ERROR: ImportError | None = None
except ImportError as exc:  # pragma: no cover - open_redis says what is missing
    _IMPORT_ERROR = exc
    RedisSaver = object  # type: ignore[assignment,misc]


def describe_url(url: str) -> str:
    """The server and database of a Redis URL, without any password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"redis {host}{port}{parts.path or '/0'}"


class AppRedisSaver(RedisSaver):
    """RedisSaver that records each root checkpoint in ``chat-app:cps:<thread>``."""

    def __init__(self, client: Any, index_client: Any) -> None:
        super().__init__(redis_client=client)
        self.serde = JsonPlusRedisSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
        self.index_client = index_client
        self.touched: set[str] | None = None

    @staticmethod
    def _row(parent: str | None, metadata: CheckpointMetadata) -> str:
        step = metadata.get("step", 0)
        ok = isinstance(step, int) and not isinstance(step, bool)
        return json.dumps([parent, step if ok else 0, str(metadata.get("source", ""))])

    def rebuild(self, thread_id: str) -> dict[str, str]:
        """Rewrite the thread's ``cps:`` records from the saver's own list of
        its root checkpoints (at most 10,000: the saver's limit)."""
        rows = {}
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        for t in self.list(config):
            if t.config["configurable"].get("checkpoint_ns", "") != "":
                continue  # checkpoint_ns="" lists every namespace
            parent = (
                t.parent_config["configurable"].get("checkpoint_id") if t.parent_config else None
            )
            rows[str(t.checkpoint["id"])] = self._row(parent, t.metadata)
        if rows:
            self.index_client.hset(key("cps", thread_id), mapping=rows)
        return rows

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        saved: RunnableConfig = super().put(config, checkpoint, metadata, new_versions)
        conf = config["configurable"]
        if conf.get("checkpoint_ns", "") == "":
            tid = str(conf["thread_id"])
            row = self._row(conf.get("checkpoint_id"), metadata)
            self.index_client.hset(key("cps", tid), checkpoint["id"], row)
            if self.touched is not None:
                self.touched.add(tid)
        return saved

    def delete_thread(self, thread_id: str) -> None:
        super().delete_thread(thread_id)
        self.index_client.delete(key("cps", thread_id))


class RedisBackend(ReadThroughSaver):
    """Checkpoints, profiles and index in one Redis."""

    name = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url)
        self.text_client = redis.Redis.from_url(url, decode_responses=True)
        self.saver = AppRedisSaver(self.client, self.text_client)
        self.store = AppRedisStore(self.client, self.text_client)
        self.index = RedisThreadIndex(self.text_client, rebuild=self.saver.rebuild)

    @property
    def location(self) -> str:
        return describe_url(self.url)

    def lock(self, thread_id: str) -> RedisWriterLock:
        return RedisWriterLock(self.text_client, thread_id)

    @contextmanager
    def one_transaction(self) -> Iterator[tuple[AppRedisSaver, RedisThreadIndex]]:
        """The saver, and an index whose writes are queued and run at the end
        of the block as one MULTI/EXEC.

        RedisSaver writes through its own pipelines, so its writes and the
        index's cannot be one transaction: checkpoints are written first, the
        index after (every index write is idempotent). If the block raises,
        the checkpoints of threads it wrote that have no index record are
        deleted; if the process dies between the two, the thread has
        checkpoints and no record, and ``chat-app reindex`` (``unindexed``)
        finds it and indexes it again.
        """
        index = RedisThreadIndex(self.text_client, joined=True, rebuild=self.saver.rebuild)
        touched: set[str] = set()
        self.saver.touched = touched
        try:
            yield self.saver, index
        except BaseException:
            for tid in touched:
                if index.owner(tid) is None:
                    with contextlib.suppress(Exception):
                        self.saver.delete_thread(tid)
            raise
        finally:
            self.saver.touched = None
        index.flush()

    def setup(self) -> None:
        """The saver's and the store's search indexes (created once; safe when
        several instances start together)."""
        self.saver.setup()
        self.store.setup()

    def upkeep(self) -> Upkeep:
        raise StorageError(
            "the redis backend has no prune, size report or compaction yet:"
            " use Redis's own tools (MEMORY USAGE, --bigkeys)"
        )

    def close(self) -> None:
        for client in (self.client, self.text_client):
            with contextlib.suppress(Exception):
                client.close()


def open_redis_backend(settings: Settings) -> RedisBackend:
    """Open ``storage.redis_url``; refuse a server without JSON and the Query Engine."""
    return open_redis(settings.storage.redis_url)


def open_redis(url: str) -> RedisBackend:
    if _IMPORT_ERROR is not None:
        raise StorageError(MISSING_DEPS)
    where = describe_url(url)
    try:
        probe = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    except ValueError as exc:
        raise StorageError(f"storage.redis_url: {exc}") from None
    try:
        missing = missing_redis_capabilities(probe)
    except (redis.RedisError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StorageError(f"{where}: cannot connect to Redis ({first})") from None
    finally:
        probe.close()
    if missing:
        raise StorageError(f"{where}: {describe_missing(missing)}")
    backend = RedisBackend(url)
    try:
        backend.setup()
    except redis.RedisError as exc:
        backend.close()
        raise StorageError(f"{where}: cannot set up the search indexes: {exc}") from None
    return backend
