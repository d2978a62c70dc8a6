"""Telling other instances what changed: new threads, new messages, profile edits.

With several instances on one database, an open sidebar or profile panel
must learn about changes made elsewhere. Changes go over Redis pub/sub when
Redis is configured, else over PostgreSQL LISTEN/NOTIFY for the postgres
backend; with SQLite alone there is no feed (the TUI polls the index).

A :class:`ChangeFeed` is thread-safe. Consumers either

- ``unsubscribe = feed.subscribe(callback)``: ``callback(change)`` runs on
  the feed's listener thread (a Textual app must hop with
  ``call_from_thread``), or
- ``feed.poll()``: the changes received since the last poll (bounded).

Changes made by this instance are not echoed back. A ``"resync"`` change
means notifications may have been missed (the connection dropped and came
back): reload everything shown. Notifications are hints, never data: the
receiver reads the database.

Publishing is asynchronous (a sender thread), so a slow or dead Redis never
adds latency to a turn.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import queue
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chat_app.service.events import CheckpointInfo, ThreadInfo

if TYPE_CHECKING:
    from chat_app.service.short_term import RedisTier
    from chat_app.storage.backend import Index

log = logging.getLogger(__name__)

PG_CHANNEL = "chat_app_changes"
REDIS_CHANNEL_PREFIX = "chat-app:changes:"
MAX_QUEUED = 1000
RECONNECT_S = 1.0

KINDS = ("thread", "messages", "deleted", "profile", "resync")


@dataclass(frozen=True)
class Change:
    """Something changed in another instance.

    ``kind``: ``"thread"`` (created, renamed, started or finished a reply:
    refresh the sidebar entry), ``"messages"`` (the thread's conversation or
    history changed: reload it if open), ``"deleted"``, ``"profile"`` (reload
    the profile panel; ``thread_id`` is empty) or ``"resync"`` (reload all).
    """

    kind: str
    thread_id: str = ""


class ChangeFeed:
    """No transport: nothing is sent or received (SQLite without Redis)."""

    transport = "none"

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.origin = uuid.uuid4().hex
        self._subs: dict[int, Callable[[Change], None]] = {}
        self._ids = itertools.count()
        self._received: deque[Change] = deque(maxlen=MAX_QUEUED)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._outbox: queue.Queue[str | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._sender: threading.Thread | None = None

    # -- consumers ------------------------------------------------------------

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback(change)`` (on the listener thread) for each change
        from another instance; returns a function that unsubscribes."""
        with self._lock:
            sub_id = next(self._ids)
            self._subs[sub_id] = callback
        self._start_listener()

        def unsubscribe() -> None:
            with self._lock:
                self._subs.pop(sub_id, None)

        return unsubscribe

    def poll(self) -> list[Change]:
        """Changes received since the last call (oldest first, at most 1000)."""
        self._start_listener()
        with self._lock:
            out = list(self._received)
            self._received.clear()
        return out

    def _deliver(self, change: Change) -> None:
        with self._lock:
            self._received.append(change)
            subs = list(self._subs.values())
        for cb in subs:
            try:
                cb(change)
            except Exception:
                log.exception("change subscriber failed")

    def _receive(self, payload: str) -> None:
        try:
            doc = json.loads(payload)
            kind, thread_id = str(doc["k"]), str(doc.get("t", ""))
            user, origin = str(doc["u"]), str(doc["o"])
        except (ValueError, TypeError, KeyError):
            return
        if user == self.user_id and origin != self.origin and kind in KINDS:
            self._deliver(Change(kind, thread_id))

    # -- producers ------------------------------------------------------------

    def publish(self, kind: str, thread_id: str = "") -> None:
        """Tell the other instances of this user (never blocks)."""
        if self.transport == "none":
            return
        payload = json.dumps({"k": kind, "t": thread_id, "u": self.user_id, "o": self.origin})
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._send_loop, name="chat-app-changes-out", daemon=True
                )
                self._sender.start()
        with contextlib.suppress(queue.Full):
            self._outbox.put_nowait(payload)

    def _send_loop(self) -> None:
        while True:
            payload = self._outbox.get()
            if payload is None:
                return
            try:
                self._send(payload)
            except Exception as exc:
                log.debug("change not sent: %s", exc)

    def _send(self, payload: str) -> None:
        pass

    # -- listener -------------------------------------------------------------

    def _start_listener(self) -> None:
        if self.transport == "none":
            return
        with self._lock:
            if self._listener is not None or self._stop.is_set():
                return
            self._listener = threading.Thread(
                target=self._listen_loop, name="chat-app-changes-in", daemon=True
            )
            self._listener.start()

    def _listen_loop(self) -> None:
        missed = threading.Event()

        def connected() -> None:
            if missed.is_set():
                self._deliver(Change("resync"))

        while not self._stop.is_set():
            try:
                self._listen(connected)
            except Exception as exc:
                log.debug("change listener disconnected: %s", exc)
            missed.set()
            self._stop.wait(RECONNECT_S)

    def _listen(self, on_connected: Callable[[], None]) -> None:
        """Receive until the connection fails or the feed stops."""

    def close(self) -> None:
        self._stop.set()
        if self._sender is not None:
            with contextlib.suppress(queue.Full):
                self._outbox.put_nowait(None)
            self._sender.join(timeout=1.0)
        if self._listener is not None:
            self._listener.join(timeout=1.5)


class RedisChangeFeed(ChangeFeed):
    """Redis pub/sub, one channel per user."""

    transport = "redis"

    def __init__(self, user_id: str, tier: RedisTier) -> None:
        super().__init__(user_id)
        self.tier = tier
        self.channel = REDIS_CHANNEL_PREFIX + user_id

    def _send(self, payload: str) -> None:
        self.tier.publish(self.channel, payload)

    def _listen(self, on_connected: Callable[[], None]) -> None:
        import redis

        client = redis.Redis.from_url(
            self.tier.url, socket_connect_timeout=0.25, socket_timeout=5.0, decode_responses=True
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.channel)
            self.tier.mark_ok()
            on_connected()
            while not self._stop.is_set():
                msg = pubsub.get_message(timeout=0.5)
                if msg and msg.get("type") == "message":
                    self._receive(str(msg.get("data", "")))
        except (redis.RedisError, OSError):
            self.tier.breaker.failure()
            raise
        finally:
            with contextlib.suppress(Exception):
                pubsub.close()
            with contextlib.suppress(Exception):
                client.close()


class PgChangeFeed(ChangeFeed):
    """PostgreSQL LISTEN/NOTIFY on one channel; receivers filter by user."""

    transport = "postgres"

    def __init__(self, user_id: str, dsn: str, pool: Any) -> None:
        super().__init__(user_id)
        self.dsn = dsn
        self.pool = pool

    def _send(self, payload: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, payload))

    def _listen(self, on_connected: Callable[[], None]) -> None:
        from chat_app.storage.postgres.connection import connect

        with connect(self.dsn) as conn:
            conn.execute(f"LISTEN {PG_CHANNEL}")
            on_connected()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    self._receive(note.payload)


def open_change_feed(user_id: str, tier: Any, backend: Any) -> ChangeFeed:
    """Redis pub/sub if Redis is configured, else LISTEN/NOTIFY on postgres,
    else no feed."""
    from chat_app.service.short_term import RedisTier

    if isinstance(tier, RedisTier):
        return RedisChangeFeed(user_id, tier)
    if getattr(backend, "name", "") == "postgres":
        return PgChangeFeed(user_id, backend.dsn, backend.pool)
    return ChangeFeed(user_id)


class NotifyingIndex:
    """The backend's index, calling ``on_change(kind, thread_id)`` after each
    write that other instances (or caches) should hear about."""

    def __init__(self, inner: Index, on_change: Callable[[str, str], None]) -> None:
        self.inner = inner
        self.on_change = on_change

    def __getattr__(self, name: str) -> Any:
        # Methods added to the index later pass through unchanged.
        return getattr(self.inner, name)

    def create(self, user_id: str, title: str = "", thread_id: str | None = None) -> ThreadInfo:
        info = self.inner.create(user_id, title, thread_id)
        self.on_change("thread", info.id)
        return info

    def get(self, user_id: str, thread_id: str) -> ThreadInfo | None:
        return self.inner.get(user_id, thread_id)

    def owner(self, thread_id: str) -> str | None:
        return self.inner.owner(thread_id)

    def ids_with_prefix(self, user_id: str, prefix: str, limit: int) -> list[str]:
        return self.inner.ids_with_prefix(user_id, prefix, limit)

    def chosen_head(self, thread_id: str) -> str | None:
        return self.inner.chosen_head(thread_id)

    def choose_head(self, thread_id: str, checkpoint_id: str | None) -> None:
        self.inner.choose_head(thread_id, checkpoint_id)
        self.on_change("messages", thread_id)

    def list_threads(
        self, user_id: str, limit: int | None = None, query: str = ""
    ) -> list[ThreadInfo]:
        return self.inner.list_threads(user_id, limit, query)

    def rename(self, thread_id: str, title: str) -> None:
        self.inner.rename(thread_id, title)
        self.on_change("thread", thread_id)

    def set_auto_title(self, thread_id: str, title: str) -> None:
        self.inner.set_auto_title(thread_id, title)

    def set_run_state(self, thread_id: str, state: str) -> None:
        self.inner.set_run_state(thread_id, state)
        self.on_change("thread", thread_id)

    def is_running(self, thread_id: str) -> bool:
        return self.inner.is_running(thread_id)

    def running(self, user_id: str | None = None) -> list[str]:
        return self.inner.running(user_id)

    def record_turn(
        self,
        thread_id: str,
        message_count: int,
        messages: Iterable[tuple[str, str, str]],
        notes: Iterable[tuple[str, str, str, bool]],
        usage: tuple[str, int, int] | None = None,
    ) -> None:
        self.inner.record_turn(thread_id, message_count, messages, notes, usage)
        self.on_change("messages", thread_id)

    def add_note(self, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> None:
        self.inner.add_note(thread_id, checkpoint_id, kind, summary)
        self.on_change("messages", thread_id)

    def set_count(self, thread_id: str, message_count: int) -> None:
        self.inner.set_count(thread_id, message_count)
        self.on_change("messages", thread_id)

    def save_partial(self, thread_id: str, text: str) -> None:
        self.inner.save_partial(thread_id, text)

    def partial(self, thread_id: str) -> str:
        return self.inner.partial(thread_id)

    def checkpoints(self, thread_id: str, newest: int | None = None) -> list[CheckpointInfo]:
        return self.inner.checkpoints(thread_id, newest)

    def newest_checkpoint(self, thread_id: str) -> str | None:
        return self.inner.newest_checkpoint(thread_id)

    def delete(self, thread_id: str) -> None:
        self.inner.delete(thread_id)
        self.on_change("deleted", thread_id)
