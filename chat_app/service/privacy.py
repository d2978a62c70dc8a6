"""What deleting a thread must also do, so its text is gone from the disk.

Deleting rows leaves their bytes in free pages of the database and in the
WAL. After a thread is deleted the file is rebuilt (``VACUUM``) and the WAL is
checkpointed and truncated, so the conversation's text is no longer anywhere
in ``chat.db`` or ``chat.db-wal``.

Profile facts learned in the deleted thread stay (they are the person's
profile, shown and editable on their own), but the quote they were learned
from (``source_text``) is a piece of the deleted conversation: it is removed
and the provenance says the thread was deleted.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from langgraph.store.base import BaseStore

from graphs.profile import profile_namespace, read_profile

log = logging.getLogger(__name__)

DELETED_SOURCE = "(from a deleted thread)"


def scrub_quotes(store: BaseStore, user_id: str, thread_id: str) -> int:
    """Drop the quotes of facts learned in ``thread_id``; the facts stay."""
    n = 0
    for fact in read_profile(store, user_id):
        if fact.thread_id != thread_id:
            continue
        item = store.get(profile_namespace(user_id), fact.key)
        if item is None:
            continue
        value = dict(item.value)
        value.update(source_text=DELETED_SOURCE, thread_id="", message_id="", checkpoint_id="")
        store.put(profile_namespace(user_id), fact.key, value)
        n += 1
    return n


def compact(db_path: Path | None, busy_timeout_s: float) -> bool:
    """VACUUM and truncate the WAL; False (logged) when it could not be done now."""
    if db_path is None:
        return True
    try:
        conn = sqlite3.connect(db_path, timeout=busy_timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        log.warning("cannot open %s to compact it: %s", db_path, exc)
        return False
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        conn.execute("VACUUM")
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        # (busy, wal frames, frames checkpointed): busy=1 means a reader kept
        # old frames alive; they are overwritten by later writes.
        return bool(row is None or row[0] == 0)
    except sqlite3.Error as exc:
        log.warning("could not compact %s after a delete: %s", db_path, exc)
        return False
    finally:
        conn.close()
