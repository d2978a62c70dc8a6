"""The state schema of a conversation, its version, and migrations.

Messages live in a ``DeltaChannel``: a checkpoint stores only what changed,
plus a full snapshot every ``SNAPSHOT_FREQUENCY`` updates, so storage per turn
does not grow with the length of the conversation (a plain ``add_messages``
list rewrites the whole conversation into every checkpoint: quadratic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage, BaseMessage, RemoveMessage
from langgraph.graph.message import add_messages

from graphs.langgraph_compat import delta_channel

STATE_VERSION = 2
# Updates between full snapshots of the message list (a turn makes two: a
# snapshot every 250 turns). Each snapshot holds the whole conversation, so
# their total grows with the square of its length over this number: they were
# most of a long thread's database at 200. A turn does not read back to the
# snapshot (the saver keeps the folded list of recent checkpoints, see
# chat_app.core.fast_saver); only the first read of a thread or of an old
# checkpoint replays the writes since it, at most this many.
SNAPSHOT_FREQUENCY = 500


def add_message_batches(state: list[AnyMessage], writes: Sequence[Any]) -> list[AnyMessage]:
    """Batch reducer for the delta channel: add_messages over all the writes.

    Every message written must already carry an id (the service and the
    respond node guarantee it); otherwise add_messages would invent a new
    random id on every replay.

    Replaying a thread passes every write since the last snapshot: folding
    them one call at a time copies the whole list per write (O(n * w), the
    main cost of a turn in a long thread), so plain message lists are
    concatenated into one call, which gives the same list. A RemoveMessage
    would not (a removed id written again must come back at the end), so any
    other write falls back to folding one at a time.
    """
    batch: list[AnyMessage] = []
    for w in writes:
        if not isinstance(w, list) or not all(
            isinstance(m, BaseMessage) and not isinstance(m, RemoveMessage) for m in w
        ):
            return reduce(add_messages, writes, state)  # type: ignore[arg-type]
        batch.extend(w)
    return add_messages(state, batch)  # type: ignore[arg-type,return-value]


class ThreadSettings(TypedDict, total=False):
    """Per-thread settings (added in schema v2)."""

    model: str
    system_prompt: str


class ChatState(TypedDict, total=False):
    messages: Annotated[
        list[AnyMessage],
        delta_channel(add_message_batches, SNAPSHOT_FREQUENCY),
    ]
    state_version: int
    # Where older versions kept the rendered profile; now left empty (the
    # respond node renders it for the prompt only; see graphs.nodes).
    profile_context: str
    # What the remember node learned this turn, for the history timeline.
    learned: list[dict[str, str]]
    settings: ThreadSettings


# The delta channels' reducers, for a saver that folds their history itself.
DELTA_REDUCERS: dict[str, Callable[[Any, Sequence[Any]], Any]] = {"messages": add_message_batches}


def _v0_to_v1(values: dict[str, Any]) -> dict[str, Any]:
    # v0 threads had no version and no profile context channel.
    return {"state_version": 1, "profile_context": values.get("profile_context", "")}


def _v1_to_v2(values: dict[str, Any]) -> dict[str, Any]:
    # v2 adds per-thread settings; old threads start with none.
    return {"state_version": 2, "settings": dict(values.get("settings") or {})}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: _v0_to_v1,
    1: _v1_to_v2,
}


def state_version_of(values: dict[str, Any]) -> int:
    version = values.get("state_version", 0)
    return version if isinstance(version, int) else 0


def migration_updates(values: dict[str, Any]) -> dict[str, Any]:
    """Updates that bring ``values`` to STATE_VERSION (empty when current)."""
    version = state_version_of(values)
    if version > STATE_VERSION:
        raise ValueError(
            f"this thread was written by a newer version of the app (schema v{version})"
        )
    if not values.get("messages") and version == 0:
        # A brand-new thread: nothing to migrate, just stamp it.
        return {"state_version": STATE_VERSION, "settings": {}}
    updates: dict[str, Any] = {}
    current = dict(values)
    while version < STATE_VERSION:
        step = MIGRATIONS[version](current)
        updates.update(step)
        current.update(step)
        version = step["state_version"]
    return updates


def migrate_values(values: dict[str, Any]) -> dict[str, Any]:
    """A migrated copy of ``values``, for reading old threads without writing."""
    out = dict(values)
    out.update(migration_updates(values))
    return out
