"""The long-term user profile, kept in a LangGraph Store.

One namespace per user: ``("profile", user_label(user_id))`` (the id encoded
so that any id is a valid label: :mod:`graphs.user_key`). Each item is one
fact with its provenance (thread, message, checkpoint, time); a fact of a
single-valued kind is stored under a fixed key, so restating it replaces it.

Whatever a store call raises comes out as :class:`ProfileStoreError`, so a
failing store is reported as storage, not as the model call it happened in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore

from graphs.errors import ProfileStoreError
from graphs.extract import Statement
from graphs.facts import GROUPS, fact_from_value
from graphs.facts import ProfileFact as ProfileFact  # re-exported
from graphs.facts import profile_namespace as profile_namespace  # re-exported


@contextlib.contextmanager
def _store_call(user_id: str, doing: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ProfileStoreError(
            f"profile store: could not {doing} the profile of user {user_id!r}"
            f" ({type(exc).__name__}: {detail})"
        ) from exc


def read_profile(store: BaseStore, user_id: str) -> list[ProfileFact]:
    ns = profile_namespace(user_id)
    with _store_call(user_id, "read"):
        items = store.search(ns, limit=1000)
    # A search is by prefix: keep only this namespace's own items, whatever a
    # store's prefix matching does with ids that start alike.
    facts = [fact_from_value(item.key, item.value) for item in items if item.namespace == ns]
    order = {kind: i for i, kind in enumerate(GROUPS)}
    return sorted(facts, key=lambda f: (order.get(f.kind, 99), f.learned_at, f.key))


def apply_statements(
    store: BaseStore,
    user_id: str,
    statements: Iterable[Statement],
    *,
    thread_id: str,
    message_id: str,
    checkpoint_id: str = "",
    source_text: str = "",
    learned_by: str = "",
) -> list[ProfileFact]:
    """Write statements to the store; return the facts that changed."""
    ns = profile_namespace(user_id)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    changed: list[ProfileFact] = []
    with _store_call(user_id, "update"):
        for st in statements:
            for old in st.replaces:
                if old != st.key and store.get(ns, old) is not None:
                    store.delete(ns, old)
            existing = store.get(ns, st.key)
            if existing is not None and existing.value.get("value") == st.value:
                continue
            value = {
                "kind": st.kind,
                "value": st.value,
                "thread_id": thread_id,
                "message_id": message_id,
                "checkpoint_id": checkpoint_id,
                "learned_at": now,
                "source_text": source_text[:200],
                "learned_by": learned_by,
            }
            store.put(ns, st.key, value)
            changed.append(fact_from_value(st.key, value))
    return changed


def set_fact(
    store: BaseStore, user_id: str, key: str, value: str, *, create: bool = False
) -> ProfileFact:
    """The person edited a fact by hand: keep its kind, mark the provenance.

    ``create``: a key not in the profile becomes a new fact, "set by you"; its
    kind is the key's prefix when it names one ("like:tea"), else "fact".
    Without it a missing key raises KeyError.
    """
    ns = profile_namespace(user_id)
    with _store_call(user_id, "read"):
        existing = store.get(ns, key)
    if existing is None and not create:
        raise KeyError(key)
    if existing is None:
        prefix = key.split(":", 1)[0]
        data: dict[str, Any] = {"kind": prefix if prefix in GROUPS else "fact"}
        source = "set by you"
    else:
        data = dict(existing.value)
        source = "edited by you"
    data.update(
        value=value,
        learned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source_text=source,
    )
    with _store_call(user_id, "update"):
        store.put(ns, key, data)
    return fact_from_value(key, data)


def restore_fact(store: BaseStore, user_id: str, fact: ProfileFact) -> None:
    """Put a forgotten fact back exactly as it was, provenance included (undo)."""
    data = fact.to_dict()
    key = data.pop("key")
    with _store_call(user_id, "update"):
        store.put(profile_namespace(user_id), key, data)


def forget(store: BaseStore, user_id: str, key: str) -> bool:
    ns = profile_namespace(user_id)
    with _store_call(user_id, "update"):
        if store.get(ns, key) is None:
            return False
        store.delete(ns, key)
    return True


def forget_all(store: BaseStore, user_id: str) -> int:
    facts = read_profile(store, user_id)
    with _store_call(user_id, "update"):
        for fact in facts:
            store.delete(profile_namespace(user_id), fact.key)
    return len(facts)


PROFILE_HEADER = "What you know about the user:"


def render_profile(facts: Iterable[ProfileFact]) -> str:
    """The profile block of the system prompt (the offline model parses it too)."""
    lines = [f"- {f.kind}: {f.value}" for f in facts]
    if not lines:
        return ""
    return PROFILE_HEADER + "\n" + "\n".join(lines)
