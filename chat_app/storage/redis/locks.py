"""One writer per thread across hosts: a lease in Redis.

``SET chat-app:lock:<thread> <token> NX PX <lease>`` takes it; while it is
held a daemon thread renews the lease (compare-and-PEXPIRE) every third of
it; release is a compare-and-DEL, so a holder never drops a lease that
expired and was taken by another. A killed holder stops renewing and its
lease lapses after at most ``LEASE_MS``: nothing keeps the thread locked.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

from chat_app.storage.backend import HeldLock
from chat_app.storage.errors import StorageError

LEASE_MS = 5000

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisWriterLock(HeldLock):
    """A renewed lease on ``chat-app:lock:<thread>`` (see the module)."""

    def __init__(self, client: Any, thread_id: str, lease_ms: int = LEASE_MS) -> None:
        self.client = client
        self.key = "chat-app:lock:" + thread_id
        self.lease_ms = lease_ms
        self.token = uuid.uuid4().hex
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._stop: threading.Event | None = None
        self._held = False

    def try_acquire(self) -> bool:
        if self._held:
            return True
        try:
            got = self.client.set(self.key, self.token, nx=True, px=self.lease_ms)
        except Exception as exc:
            raise StorageError(f"Redis: cannot take the thread lock: {exc}") from None
        if got:
            self._held = True
            self._start_renewing()
        return self._held

    def _start_renewing(self) -> None:
        stop = self._stop = threading.Event()
        every = self.lease_ms / 3000

        def renew() -> None:
            while not stop.wait(every):
                try:
                    if not self._renew(keys=[self.key], args=[self.token, self.lease_ms]):
                        return  # lost (Redis was emptied or the lease lapsed)
                except Exception:  # noqa: S112 - Redis away for a moment: try again
                    continue

        threading.Thread(target=renew, name="redis-lease", daemon=True).start()

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        if self._held:
            self._held = False
            with contextlib.suppress(Exception):
                self._release(keys=[self.key], args=[self.token])
