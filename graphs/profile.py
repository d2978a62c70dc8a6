"""The long-term user profile, kept in a LangGraph Store.

One namespace per user: ``("profile", user_id)``. Each item is one fact with
its provenance (thread, message, checkpoint, time); a fact of a single-valued
kind is stored under a fixed key, so restating it replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from langgraph.store.base import BaseStore

from graphs.extract import Statement
from graphs.facts import GROUPS, fact_from_value
from graphs.facts import ProfileFact as ProfileFact  # re-exported
from graphs.facts import profile_namespace as profile_namespace  # re-exported


def read_profile(store: BaseStore, user_id: str) -> list[ProfileFact]:
    items = store.search(profile_namespace(user_id), limit=1000)
    facts = [fact_from_value(item.key, item.value) for item in items]
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


def set_fact(store: BaseStore, user_id: str, key: str, value: str) -> ProfileFact:
    """The person edited a fact by hand: keep its kind, mark the provenance."""
    ns = profile_namespace(user_id)
    existing = store.get(ns, key)
    if existing is None:
        raise KeyError(key)
    data = dict(existing.value)
    data.update(
        value=value,
        learned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source_text="edited by you",
    )
    store.put(ns, key, data)
    return fact_from_value(key, data)


def forget(store: BaseStore, user_id: str, key: str) -> bool:
    ns = profile_namespace(user_id)
    if store.get(ns, key) is None:
        return False
    store.delete(ns, key)
    return True


def forget_all(store: BaseStore, user_id: str) -> int:
    facts = read_profile(store, user_id)
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
