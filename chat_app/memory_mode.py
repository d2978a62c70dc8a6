"""What the command line does differently with the memory backend (``--memory``).

Nothing is written to disk: no data directory, no database, no local.db, no
log file. Library warnings, which go to the log file otherwise, are dropped
(never onto the terminal). Commands that only work on a database refuse in
one line, and every other command ends by saying that nothing was kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat_app.config import Settings

# Not imported from chat_app.storage.memory: that loads LangGraph.
NAME = "memory"
NOTHING_SAVED = "memory backend: nothing is saved; everything is gone when the program exits"
NOTHING_KEPT = (
    "memory backend: nothing was kept; this run's threads and profile are gone now that it ends"
)

# Commands that only make sense on a database, and why there is nothing to do.
DATABASE_COMMANDS = {
    "migrate": "there is no SQLite database to copy",
    "prune": "there are no old branches on disk to drop",
    "reindex": "no other program can have written threads into it",
    "upgrade-storage": "there is no stored checkpoint to rewrite",
}


def in_memory(settings: Settings) -> bool:
    return settings.storage.backend == NAME


def refusal(command: str | None) -> str | None:
    """One line saying why ``command`` has nothing to do in memory, or None."""
    why = DATABASE_COMMANDS.get(command or "")
    if why is None:
        return None
    return f"{command}: the memory backend keeps nothing on disk, so {why}"


def log_nowhere() -> None:
    """Library warnings are dropped: no log file, and never the terminal
    (where Python's last-resort handler would print them)."""
    root = logging.getLogger()
    if any(getattr(h, "chat_app", False) for h in root.handlers):
        return
    handler = logging.NullHandler()
    setattr(handler, "chat_app", True)  # noqa: B010
    root.addHandler(handler)
