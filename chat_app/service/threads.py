"""The user's threads: list, search, create, resolve a short id, rename, delete;
and what other instances are told when one changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chat_app.safe_text import clean_input, one_line
from chat_app.service.changes import Change
from chat_app.service.errors import AmbiguousThreadId, ServiceError, ThreadNotFound
from chat_app.service.events import (
    ThreadInfo,
)

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.

    from chat_app.service.facade import ChatService


MIN_ID_PREFIX = 4


_ID_CHARS = "0123456789abcdef-"


MAX_SEARCH_CHARS = 1_000


def subscribe(svc: ChatService, callback: Callable[[Change], None]) -> Callable[[], None]:
    """Call ``callback(change)`` for changes made by other instances of this
    user (on a background thread); returns an unsubscribe function."""
    return svc.changes.subscribe(callback)


def poll_changes(svc: ChatService) -> list[Change]:
    """Changes made by other instances since the last call (never blocks)."""
    return svc.changes.poll()


def _index_changed(svc: ChatService, kind: str, thread_id: str) -> None:
    if kind in ("messages", "deleted"):
        svc._message_cache.invalidate(thread_id)
    if kind == "deleted":
        svc.session.forget_thread(thread_id)
    svc.changes.publish(kind, thread_id)


def list_threads(svc: ChatService, query: str = "", limit: int | None = None) -> list[ThreadInfo]:
    query = query.strip()
    if len(query) > MAX_SEARCH_CHARS:
        # SQLite refuses LIKE patterns over 50,000 bytes with an error.
        raise ServiceError(f"the search text is too long (at most {MAX_SEARCH_CHARS:,} characters)")
    return svc.index.list_threads(svc.user_id, limit=limit, query=query)


def threads_stamp(svc: ChatService) -> tuple[int, float]:
    """A cheap value that changes when the thread list may have changed."""
    count, newest = svc.index.stamp(svc.user_id)
    return int(count), float(newest)


def create_thread(svc: ChatService, title: str = "") -> ThreadInfo:
    return svc.index.create(svc.user_id, one_line(clean_input(title), 120) if title else "")


def new_thread(svc: ChatService, reuse: str | None = None) -> ThreadInfo:
    """A new thread, or ``reuse`` when it is still empty and untitled (no
    pile of empty threads from asking for a new one twice)."""
    if reuse is not None:
        info = svc.index.get(svc.user_id, reuse)
        if (
            info is not None
            and not info.title
            and info.message_count == 0
            and not info.interrupted
            and not svc.index.checkpoints(reuse, newest=1)
        ):
            return info
    return svc.create_thread()


def get_thread(svc: ChatService, thread_id: str) -> ThreadInfo:
    info = svc.index.get(svc.user_id, thread_id)
    if info is None:
        # Another user's thread is reported exactly like a missing one.
        raise ThreadNotFound(f"no thread with id {one_line(thread_id, 60)!r}")
    return info


def resolve_thread_id(svc: ChatService, ref: str) -> str:
    """The thread a full id or a unique prefix (4+ characters, as git takes) names.

    Only the user's own threads count; an ambiguous prefix lists the candidates.
    """
    ref = ref.strip()
    if svc.index.get(svc.user_id, ref) is not None:
        return ref
    prefix = ref.lower()
    if len(prefix) >= MIN_ID_PREFIX and not set(prefix) - set(_ID_CHARS):
        found = svc.index.ids_with_prefix(svc.user_id, prefix, limit=6)
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
            raise AmbiguousThreadId(f"thread id {prefix!r} is ambiguous: it starts {listed}")
    raise ThreadNotFound(f"no thread with id {one_line(ref, 60)!r}")


def rename_thread(svc: ChatService, thread_id: str, title: str) -> ThreadInfo:
    svc.get_thread(thread_id)
    title = one_line(clean_input(title), 120)
    if not title:
        raise ServiceError("a thread title cannot be empty")
    svc.index.rename(thread_id, title)
    return svc.get_thread(thread_id)


def delete_thread(svc: ChatService, thread_id: str) -> None:
    """Remove the thread's checkpoints, writes, index rows and notes."""
    from chat_app.service import privacy

    svc.get_thread(thread_id)
    with svc._lock(thread_id, wait_s=svc.settings.storage.busy_timeout_s):
        svc.backend.saver.delete_thread(thread_id)
        svc.index.delete(thread_id)
        # Privacy: the quotes go from the profile, the bytes from the file.
        privacy.scrub_quotes(svc.backend.store, svc.user_id, thread_id)
    privacy.compact(svc.backend.db_path, svc.settings.storage.busy_timeout_s)
