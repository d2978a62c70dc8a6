"""``chat-app reindex``: list threads written into the database by another program.

The app lists threads from its own index (LangGraph has no list-threads
API), so a thread written by stock LangGraph into the same checkpoint tables
is invisible until it is indexed. Each such thread is adopted by the current
user: titled after its first human message, with its message count and the
times of its first and last checkpoints (LangGraph's ids are uuid6, which
carry their time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_app.safe_text import one_line
from chat_app.storage.app_index import uuid6_time

if TYPE_CHECKING:
    from chat_app.service.events import ThreadInfo
    from chat_app.service.facade import ChatService

TITLE_CHARS = 60


def reindex(service: ChatService) -> list[ThreadInfo]:
    """Index every unindexed thread for the current user; the threads added."""
    added: list[ThreadInfo] = []
    for thread_id, first, last in service.index.unindexed():
        service.index.create(service.user_id, "", thread_id=thread_id)
        msgs = service.load_messages(thread_id)
        first_human = next((m.text for m in msgs if m.role == "user" and m.text.strip()), "")
        if first_human:
            service.index.set_auto_title(thread_id, one_line(first_human, TITLE_CHARS))
        service.index.set_count(thread_id, len(msgs))
        now = service.get_thread(thread_id).updated_at
        created = uuid6_time(first) or now
        service.index.set_times(thread_id, created, uuid6_time(last) or created)
        added.append(service.get_thread(thread_id))
    return added
