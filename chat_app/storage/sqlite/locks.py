"""One writer per thread, across processes.

A file lock per thread (``flock``): the kernel releases it when the holder
exits, so a killed instance cannot keep a thread locked forever.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from chat_app.storage.backend import HeldLock


class ThreadLock(HeldLock):
    def __init__(self, lock_dir: Path, thread_id: str) -> None:
        digest = hashlib.sha256(thread_id.encode()).hexdigest()[:32]
        self.path = lock_dir / f"{digest}.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
