"""The user's profile: the facts the model learned, edited and forgotten by the
person, and a retry of an extraction that failed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from chat_app.safe_text import clean_input, one_line
from chat_app.service.errors import ServiceError
from chat_app.service.events import (
    Event,
    ProfileNotUpdated,
    ProfileUpdated,
)
from graphs.context import ChatContext
from graphs.errors import ModelCallError
from graphs.facts import ProfileFact

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.

    from chat_app.service.facade import ChatService


def profile_not_updated(svc: ChatService, thread_id: str) -> str:
    """Why the profile missed the thread's last messages ("" when it did not)."""
    svc.get_thread(thread_id)
    return str(svc._state_values(thread_id).get("profile_error") or "")


def retry_profile(svc: ChatService, thread_id: str) -> Iterator[Event]:
    """Read again the messages whose profile extraction failed (no new reply).

    The remember step runs once more on the thread's head, in the same
    retry layer as a turn; it yields ProfileUpdated or ProfileNotUpdated.
    """
    svc.get_thread(thread_id)
    with svc._lock(thread_id, svc.settings.storage.busy_timeout_s), svc._storage_errors():
        if svc._flagged_pending(thread_id):
            raise ServiceError("the last reply in this thread did not finish: resume it first")
        if not svc._state_values(thread_id).get("profile_pending"):
            return
        config = svc.graph.update_state(svc._config(thread_id), {}, as_node="respond")
        ctx = ChatContext(user_id=svc.user_id)
        attempt, max_attempts = 1, svc.settings.model.max_attempts
        while True:
            ctx.final_attempt = attempt >= max_attempts
            try:
                for chunk in svc.graph.stream(
                    None, config, context=ctx, stream_mode="updates", durability="sync"
                ):
                    upd = chunk.get("remember") if isinstance(chunk, dict) else None
                    if isinstance(upd, dict) and upd.get("learned"):
                        svc.changes.publish("profile")
                        yield ProfileUpdated(svc.profile())
                    if isinstance(upd, dict) and upd.get("profile_error"):
                        yield ProfileNotUpdated(thread_id, str(upd["profile_error"]))
                return
            except ModelCallError as err:
                if not err.transient or attempt >= max_attempts:
                    raise ServiceError(err.user_message) from None
                svc._sleep(svc._backoff(attempt, err))
                attempt += 1
                config = svc._config(thread_id)


def profile(svc: ChatService) -> list[ProfileFact]:
    from graphs import profile as profile_mod

    with svc._storage_errors():
        return profile_mod.read_profile(svc.backend.store, svc.user_id)


def edit_fact(svc: ChatService, key: str, value: str, *, create: bool = False) -> ProfileFact:
    """Correct a fact; ``create`` adds it when the profile has no such key."""
    from graphs import profile as profile_mod

    value = one_line(clean_input(value), 200)
    if not value:
        raise ServiceError("a profile fact cannot be empty; use forget to remove it")
    key = one_line(clean_input(key), 80)
    if not key:
        raise ServiceError("a profile fact needs a name")
    try:
        with svc._storage_errors():
            fact = profile_mod.set_fact(svc.backend.store, svc.user_id, key, value, create=create)
        svc.changes.publish("profile")
        return fact
    except KeyError:
        raise ServiceError(f"no profile fact named {one_line(key, 40)!r}") from None


def forget(svc: ChatService, key: str) -> None:
    from graphs import profile as profile_mod

    with svc._storage_errors():
        found = profile_mod.forget(svc.backend.store, svc.user_id, key)
    if not found:
        raise ServiceError(f"no profile fact named {one_line(key, 40)!r}")
    svc.changes.publish("profile")


def restore_fact(svc: ChatService, fact: ProfileFact) -> None:
    """Put back a fact that was just forgotten, with its provenance (undo)."""
    from graphs import profile as profile_mod

    with svc._storage_errors():
        profile_mod.restore_fact(svc.backend.store, svc.user_id, fact)
    svc.changes.publish("profile")


def forget_all(svc: ChatService) -> int:
    from graphs import profile as profile_mod

    with svc._storage_errors():
        n = profile_mod.forget_all(svc.backend.store, svc.user_id)
    svc.changes.publish("profile")
    return n
