"""Creating the data directory and the database file private, and nothing more.

What the app creates is private from the start: each missing directory is made
with ``os.mkdir(path, 0o700)`` and the database with ``os.open(..., 0o600)``,
so there is no moment when others could open it (a umask only removes bits).
What already exists is left exactly as it is: the person chose its mode, and
a chmod could reach far (``--data-dir /tmp`` run as root, or a symlink to a
shared folder). ``chat-app doctor`` names loose permissions instead.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents 0700; leave existing ones alone."""
    missing: list[Path] = []
    p = path
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        # Made meanwhile by another chat-app starting at the same moment: fine.
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
    if not path.is_dir():
        raise NotADirectoryError(20, "not a directory", str(path))


def create_private_file(path: Path) -> None:
    """Create ``path`` 0600 if it is missing (SQLite's -wal/-shm copy its mode)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
