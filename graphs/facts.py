"""A fact of the user profile, as plain data (nothing here imports LangGraph).

The UI and the service's events carry facts; only :mod:`graphs.profile`, which
reads and writes them in a LangGraph store, needs the store's types.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from graphs.user_key import user_from_label, user_label

GROUPS = {
    "name": "name",
    "location": "facts",
    "job": "facts",
    "fact": "facts",
    "like": "preferences",
    "dislike": "preferences",
    "preference": "preferences",
}


@dataclass(frozen=True)
class ProfileFact:
    key: str
    kind: str
    value: str
    thread_id: str = ""
    message_id: str = ""
    checkpoint_id: str = ""
    learned_at: str = ""
    source_text: str = ""
    # "model" or "rules": what read the statement in the message ("" before this was kept).
    learned_by: str = ""

    @property
    def group(self) -> str:
        return GROUPS.get(self.kind, "facts")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


PROFILE_ROOT = "profile"


def profile_namespace(user_id: str) -> tuple[str, str]:
    """Where the user's facts are kept; the id is encoded (see graphs.user_key)."""
    return (PROFILE_ROOT, user_label(user_id))


def profile_owner(namespace: tuple[str, ...]) -> str | None:
    """The user id whose profile ``namespace`` is, or None for another namespace."""
    if len(namespace) != 2 or namespace[0] != PROFILE_ROOT:
        return None
    return user_from_label(namespace[1])


def fact_from_value(key: str, value: dict[str, Any]) -> ProfileFact:
    return ProfileFact(
        key=key,
        kind=str(value.get("kind", "fact")),
        value=str(value.get("value", "")),
        thread_id=str(value.get("thread_id", "")),
        message_id=str(value.get("message_id", "")),
        checkpoint_id=str(value.get("checkpoint_id", "")),
        learned_at=str(value.get("learned_at", "")),
        source_text=str(value.get("source_text", "")),
        learned_by=str(value.get("learned_by", "")),
    )
