"""Reading a checkpoint that was tampered with or corrupted: one clear line.

The serializer is strict (no pickle, msgpack revives only allow-listed
types), so a crafted row cannot run code; but what it yields instead is an
exception from somewhere deep in LangGraph (zlib, msgpack, message coercion)
or, worse, a silently substituted value (a blocked constructor returns its
raw arguments). :func:`reading` turns both into :class:`DamagedCheckpoint`:
any exception while deserializing, and any "blocked" event the serializer
reports on this thread while the block runs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.messages import BaseMessage

log = logging.getLogger(__name__)

_blocked = threading.local()


def _count() -> int:
    return int(getattr(_blocked, "n", 0))


def _on_serde_event(event: Any) -> None:
    kind = str(event.get("kind", "")) if isinstance(event, dict) else ""
    if "blocked" in kind:
        _blocked.n = _count() + 1


try:  # langgraph-checkpoint >= 4.1: the serializer reports what it blocks
    from langgraph.checkpoint.serde.event_hooks import register_serde_event_listener

    register_serde_event_listener(_on_serde_event)
except ImportError:  # pragma: no cover - older releases: exceptions still caught
    pass


def _message(thread_id: str, checkpoint_id: str | None, why: str) -> str:
    where = f"checkpoint {checkpoint_id[:36]}" if checkpoint_id else "its latest checkpoint"
    return (
        f"thread {thread_id[:36]}: {where} is damaged and cannot be read ({why}); "
        "nothing was changed. Rewind to an earlier checkpoint, or run `chat-app doctor`"
    )


@contextmanager
def reading(thread_id: str, checkpoint_id: str | None = None) -> Iterator[None]:
    """Deserialize inside this block; damage becomes ``DamagedCheckpoint``."""
    from chat_app.service.errors import DamagedCheckpoint, ServiceError

    before = _count()
    try:
        yield
    except (ServiceError, sqlite3.Error):
        raise
    except Exception as exc:
        # Only the type: the text may quote the hostile payload.
        log.warning("unreadable checkpoint in thread %s: %s", thread_id, type(exc).__name__)
        raise DamagedCheckpoint(_message(thread_id, checkpoint_id, type(exc).__name__)) from None
    if _count() != before:
        log.warning("blocked type in a checkpoint of thread %s", thread_id)
        raise DamagedCheckpoint(
            _message(thread_id, checkpoint_id, "it names a type that is not allowed")
        )


def check_messages(thread_id: str, checkpoint_id: str | None, values: dict[str, Any]) -> None:
    """The message list must be a list of LangChain messages."""
    from chat_app.service.errors import DamagedCheckpoint

    msgs = values.get("messages", [])
    if not isinstance(msgs, list) or not all(isinstance(m, BaseMessage) for m in msgs):
        raise DamagedCheckpoint(_message(thread_id, checkpoint_id, "unexpected message data"))
