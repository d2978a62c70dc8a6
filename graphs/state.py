"""The state schema of a conversation, its version, and migrations.

Messages live in a ``DeltaChannel``: a checkpoint stores only what changed,
plus a full snapshot every ``SNAPSHOT_FREQUENCY`` updates, so storage per turn
does not grow with the length of the conversation (a plain ``add_messages``
list rewrites the whole conversation into every checkpoint: quadratic).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
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
# chat_app.storage.sqlite.fast_saver); only the first read of a thread or of an old
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
    appended = _appended(state, batch)
    if appended is not None:
        return appended
    return add_messages(state, batch)  # type: ignore[arg-type,return-value]


# The ids of message lists seen lately, by their last message (an object,
# held here so its id is not reused while cached). add_messages builds an id
# map of the whole list on every call: at 10,000 messages ~8 ms, three times a
# turn, however little was added. Lists of one thread come from one another
# through add_messages, which keeps the length only when it replaces messages
# by id: the same length, first and last message mean the same ids.
_IDS: OrderedDict[int, tuple[list[AnyMessage], frozenset[str]]] = OrderedDict()
_IDS_KEPT = 64
_IDS_LOCK = threading.Lock()


def _ids_of(messages: list[AnyMessage]) -> frozenset[str] | None:
    last = id(messages[-1])
    with _IDS_LOCK:
        kept = _IDS.get(last)
        if kept is not None:
            seen, ids = kept
            if len(seen) == len(messages) and seen[-1] is messages[-1] and seen[0] is messages[0]:
                _IDS.move_to_end(last)
                return ids
    found: frozenset[Any] = frozenset(getattr(m, "id", None) for m in messages)
    if None in found or "" in found or len(found) != len(messages):
        return None
    return found


def _remember_ids(messages: list[AnyMessage], ids: frozenset[str]) -> None:
    with _IDS_LOCK:
        _IDS[id(messages[-1])] = (messages, ids)
        _IDS.move_to_end(id(messages[-1]))
        while len(_IDS) > _IDS_KEPT:
            _IDS.popitem(last=False)


def _appended(state: list[AnyMessage], batch: list[AnyMessage]) -> list[AnyMessage] | None:
    """``state + batch`` when that is what add_messages would return: every new
    message has an id seen nowhere before and is a plain message (not a chunk,
    which add_messages converts); None otherwise."""
    if not isinstance(state, list) or not state or not batch:
        return None
    known = _ids_of(state)
    if known is None:
        return None
    new = [m.id for m in batch]
    if (
        not all(isinstance(i, str) and i for i in new)
        or len(set(new)) != len(new)
        or not known.isdisjoint(new)  # type: ignore[arg-type]
        or any(type(m).__name__.endswith("Chunk") for m in batch)
    ):
        return None
    merged = [*state, *batch]
    _remember_ids(merged, known.union(new))  # type: ignore[arg-type]
    return merged


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
    # Added without a schema version: absent in older checkpoints, read as
    # empty, and written only when they change (a turn's write count stays).
    # The running summary of what no longer fits in a request (graphs.history):
    # checkpointed, so a rewind or a fork sees its own branch's summary.
    history_summary: dict[str, Any]
    # Ids of the person's messages whose profile extraction failed, retried
    # at the next turn; and why the last extraction failed ("" when it did not).
    profile_pending: list[str]
    profile_error: str


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
