"""The short-term tier: session context with a TTL and a cache of recent messages.

Nothing here is the only copy of anything that matters: the conversation is
in the checkpoints, the threads in the index, the profile in the store. This
tier only saves work (opening a thread need not rebuild its messages) and
remembers the session (the open thread, unsent drafts, the last view of each
thread) across restarts and, with Redis, across instances.

Two implementations of :class:`ShortTermTier`:

- :class:`InProcessTier`: a dict with expiry, when no Redis is configured;
- :class:`RedisTier`: Redis with short socket timeouts and no retries, and a
  circuit breaker: after a failure Redis is skipped for ``cooldown_s`` (the
  status is ``"degraded"``) and then tried again by itself. Every write also
  goes to an in-process mirror, which answers while Redis is away or after it
  came back empty.

Values are JSON strings (never pickle).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from chat_app.service.events import ChatMessage
from graphs.user_key import user_label

log = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "chat-app:"
# Redis calls fail fast: a dead server must not freeze a turn or the UI.
SOCKET_TIMEOUT_S = 0.25
CONNECT_TIMEOUT_S = 0.25
BREAKER_COOLDOWN_S = 3.0
MESSAGE_CACHE_TTL_S = 3600
MESSAGE_CACHE_MAX_BYTES = 512 * 1024
IN_PROCESS_MAX_KEYS = 2048


class ShortTermTier(Protocol):
    @property
    def status(self) -> str:
        """``"ok"`` (Redis answers), ``"degraded"`` (Redis configured but away)
        or ``"in-process"`` (no Redis configured). Never blocks."""
        ...

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl_s: int) -> None: ...

    def delete(self, key: str) -> None: ...

    def close(self) -> None: ...


class InProcessTier:
    """A TTL dict; bounded (the keys closest to expiry go first)."""

    def __init__(self, max_keys: int = IN_PROCESS_MAX_KEYS) -> None:
        self._data: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.max_keys = max_keys

    @property
    def status(self) -> str:
        return "in-process"

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[1] <= time.monotonic():
                del self._data[key]
                return None
            return item[0]

    def set(self, key: str, value: str, ttl_s: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._data[key] = (value, now + ttl_s)
            if len(self._data) > self.max_keys:
                live = {k: v for k, v in self._data.items() if v[1] > now}
                if len(live) > self.max_keys:
                    keep = sorted(live.items(), key=lambda kv: kv[1][1])[-self.max_keys :]
                    live = dict(keep)
                self._data = live

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._data.clear()


class CircuitBreaker:
    """Closed (use Redis) until a failure; then open for ``cooldown_s``."""

    def __init__(self, cooldown_s: float = BREAKER_COOLDOWN_S) -> None:
        self.cooldown_s = cooldown_s
        self._open_until = 0.0
        self._failed = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        return time.monotonic() >= self._open_until

    def failure(self) -> None:
        with self._lock:
            self._failed = True
            self._open_until = time.monotonic() + self.cooldown_s

    def success(self) -> None:
        with self._lock:
            self._failed = False
            self._open_until = 0.0

    @property
    def degraded(self) -> bool:
        return self._failed


class RedisTier:
    """Redis with fail-fast timeouts, a circuit breaker and an in-process mirror."""

    def __init__(
        self,
        url: str,
        *,
        socket_timeout_s: float = SOCKET_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        cooldown_s: float = BREAKER_COOLDOWN_S,
    ) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        # redis-py retries 3 times by default (about 4 s per call with the
        # server down); no retries here: the breaker decides.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            decode_responses=True,
        )
        self.breaker = CircuitBreaker(cooldown_s)
        self.mirror = InProcessTier()
        self._logged = False

    @property
    def status(self) -> str:
        return "degraded" if self.breaker.degraded else "ok"

    def _call(self, fn: Callable[[], T], default: T) -> T:
        if not self.breaker.allow():
            return default
        try:
            result = fn()
        except self._errors as exc:
            self.breaker.failure()
            if not self._logged:
                log.warning("redis unavailable (%s); short-term tier degraded", exc)
                self._logged = True
            return default
        if self.breaker.degraded:
            log.info("redis is back; short-term tier ok")
        self.breaker.success()
        self._logged = False
        return result

    def probe(self) -> str:
        """Try Redis now, even if the breaker is open (blocks at most the
        socket timeouts; call it from a worker); return the status."""
        try:
            self.client.ping()
        except self._errors:
            self.breaker.failure()
        else:
            self.breaker.success()
        return self.status

    def mark_ok(self) -> None:
        """Another path (the change listener) reached Redis."""
        self.breaker.success()

    def get(self, key: str) -> str | None:
        missing = object()
        value: Any = self._call(lambda: self.client.get(key), missing)
        if value is missing or value is None:
            # Redis away, or back but empty (it keeps nothing on disk): the
            # mirror answers; re-seed Redis with what this instance knew.
            local = self.mirror.get(key)
            if value is None and local is not None:
                self._call(lambda: self.client.set(key, local, ex=3600), None)
            return local
        return str(value)

    def set(self, key: str, value: str, ttl_s: int) -> None:
        self.mirror.set(key, value, ttl_s)
        self._call(lambda: self.client.set(key, value, ex=max(1, int(ttl_s))), None)

    def delete(self, key: str) -> None:
        self.mirror.delete(key)
        self._call(lambda: self.client.delete(key), 0)

    def publish(self, channel: str, message: str) -> bool:
        sent = self._call(lambda: self.client.publish(channel, message), None)
        return sent is not None

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self.client.close()


def open_short_term(redis_url: str) -> InProcessTier | RedisTier:
    return RedisTier(redis_url) if redis_url else InProcessTier()


class LocalStore(Protocol):
    """Values kept on this machine between runs (chat_app/service/local_state.py)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


class SessionContext:
    """Per-user session context: in the short-term tier for ``ttl_s`` seconds
    (shared by instances through Redis), and in ``local`` on this machine, so
    the open thread, the drafts and the screen's choices come back after a
    quit or a crash without Redis.
    """

    def __init__(
        self,
        tier: ShortTermTier,
        user_id: str,
        ttl_s: int,
        local: Callable[[], LocalStore] | None = None,
    ) -> None:
        self.tier = tier
        self.ttl_s = ttl_s
        self._local = local
        # Encoded (no ":" left in it), so that no id's keys overlap another's.
        self._prefix = f"{KEY_PREFIX}session:{user_label(user_id)}:"

    def _get(self, key: str) -> str | None:
        value = self.tier.get(self._prefix + key)
        if value is None and self._local is not None:
            value = self._local().get(key)
        return value

    def _set(self, key: str, value: str) -> None:
        self.tier.set(self._prefix + key, value, self.ttl_s)
        if self._local is not None:
            if value:
                self._local().set(key, value)
            else:
                self._local().delete(key)

    def get_open_thread(self) -> str | None:
        return self._get("open") or None

    def set_open_thread(self, thread_id: str | None) -> None:
        # Stored as "" rather than deleted, so a stale mirror cannot revive it.
        self._set("open", thread_id or "")

    def get_draft(self, thread_id: str) -> str:
        return self._get("draft:" + thread_id) or ""

    def set_draft(self, thread_id: str, text: str) -> None:
        """Remember the unsent text of a thread; ``""`` clears it."""
        self._set("draft:" + thread_id, text)

    def get_choices(self) -> dict[str, str]:
        """What the person chose on screen (theme, side tab, panels shown)."""
        raw = self._get("choices")
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        if not isinstance(value, dict):
            return {}
        return {str(k): str(v) for k, v in value.items()}

    def set_choice(self, name: str, value: str) -> None:
        choices = self.get_choices()
        if choices.get(name) != value:
            choices[name] = value
            self._set("choices", json.dumps(choices, sort_keys=True))

    def get_last_view(self, thread_id: str) -> dict[str, Any]:
        """What the person last looked at in the thread (e.g. scroll position,
        the checkpoint shown in the history pane); ``{}`` if unknown."""
        raw = self.tier.get(self._prefix + "view:" + thread_id)
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def set_last_view(self, thread_id: str, view: dict[str, Any]) -> None:
        """``view`` must be JSON-serializable plain data."""
        self.tier.set(self._prefix + "view:" + thread_id, json.dumps(view), self.ttl_s)

    def forget_thread(self, thread_id: str) -> None:
        for part in ("draft:", "view:"):
            self.tier.delete(self._prefix + part + thread_id)
            if self._local is not None:
                self._local().delete(part + thread_id)


class MessageCache:
    """Messages at a thread's head, keyed by the head checkpoint id.

    A new checkpoint changes the key, so a cached list can never be stale;
    deleting a thread drops its entry.
    """

    def __init__(self, tier: ShortTermTier, ttl_s: int = MESSAGE_CACHE_TTL_S) -> None:
        self.tier = tier
        self.ttl_s = ttl_s

    @staticmethod
    def _key(thread_id: str) -> str:
        return f"{KEY_PREFIX}messages:{thread_id}"

    def get(self, thread_id: str, head: str) -> list[ChatMessage] | None:
        raw = self.tier.get(self._key(thread_id))
        if not raw:
            return None
        try:
            doc = json.loads(raw)
            if doc.get("head") != head:
                return None
            return [ChatMessage(str(i), str(r), str(t), str(s)) for i, r, t, s in doc["m"]]
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def put(self, thread_id: str, head: str, messages: list[ChatMessage]) -> None:
        # The texts alone already too big: skip encoding what would be dropped
        # (for 10,000 messages that was ~40 ms of opening the thread).
        if sum(len(m.text) for m in messages) > MESSAGE_CACHE_MAX_BYTES:
            return
        doc = {"head": head, "m": [[m.id, m.role, m.text, m.status] for m in messages]}
        raw = json.dumps(doc, ensure_ascii=False)
        if len(raw) <= MESSAGE_CACHE_MAX_BYTES:
            self.tier.set(self._key(thread_id), raw, self.ttl_s)

    def invalidate(self, thread_id: str) -> None:
        self.tier.delete(self._key(thread_id))
