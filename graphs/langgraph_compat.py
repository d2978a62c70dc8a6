"""Every private or Beta LangGraph name the app relies on, in one place.

The message list lives in LangGraph's Beta ``DeltaChannel``; the fast saver
and the start-up head reader read its storage directly: the ``_DeltaSnapshot``
wrapper, ``DeltaChannelHistory``, ``writes_sort_key``, the msgpack extension
codes and the ``counters_since_delta_snapshot`` metadata key. None of these
is a stable API, so the versions they were checked against are named here
(:data:`SUPPORTED`) and checked once at start-up (:func:`unsupported`): on any
other version the app says so in one line instead of misreading threads.

Importing this module does not import LangGraph (the head reader runs before
it is loaded); the LangGraph names are looked up on first use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langgraph.channels.delta import DeltaChannel
    from langgraph.checkpoint.base import DeltaChannelHistory as DeltaChannelHistory

# Distribution -> (lowest, first unsupported). Keep in step with pyproject.toml.
SUPPORTED: dict[str, tuple[str, str]] = {
    "langgraph": ("1.2.13", "2"),
    "langgraph-checkpoint": ("4.3.0", "5"),
    "langgraph-checkpoint-sqlite": ("3.1.2", "4"),
}

# langgraph.checkpoint.serde.jsonplus's msgpack extension codes.
EXT_PYDANTIC_V2 = 5
EXT_DELTA_SNAPSHOT = 7
# The metadata key where LangGraph counts a delta channel's updates since its
# last snapshot; a channel missing from it was snapshotted at that checkpoint
# (or the checkpoint comes from a version that wrote no counters: readers
# check that the snapshot really holds the channel before trusting it).
COUNTERS = "counters_since_delta_snapshot"


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3])


def unsupported() -> str | None:
    """One line naming an installed LangGraph package outside SUPPORTED, or None."""
    for dist, (low, high) in SUPPORTED.items():
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            return f"{dist} is not installed (supported: >={low},<{high})"
        if not _release(low) <= _release(installed) < _release(high):
            return (
                f"{dist} {installed} is not supported (supported: >={low},<{high});"
                f' reinstall with: pip install "{dist}>={low},<{high}"'
            )
    return None


def delta_channel(reducer: Callable[[Any, Sequence[Any]], Any], every: int) -> DeltaChannel[Any]:
    """LangGraph's Beta DeltaChannel with a batch reducer, snapshotting every ``every`` updates."""
    from langgraph.channels.delta import DeltaChannel

    return DeltaChannel(reducer, snapshot_frequency=every)


@cache
def _snapshot_class() -> type[Any]:
    from langgraph.checkpoint.serde.types import _DeltaSnapshot

    return _DeltaSnapshot  # type: ignore[no-any-return]


def delta_snapshot(value: Any) -> Any:
    """A channel value wrapped as a DeltaChannel snapshot (what a seed holds)."""
    return _snapshot_class()(value)


def snapshot_value(value: Any) -> tuple[bool, Any]:
    """``(True, inner)`` for a DeltaChannel snapshot, else ``(False, value)``."""
    if isinstance(value, _snapshot_class()):
        return True, value.value
    return False, value


@cache
def _sort_key() -> Callable[[str, str, int], Any]:
    from langgraph.checkpoint.base import writes_sort_key

    return writes_sort_key  # type: ignore[no-any-return]


def writes_sort_key(task_path: str, task_id: str, idx: int) -> Any:
    """The order LangGraph applies one checkpoint's pending writes in."""
    return _sort_key()(task_path, task_id, idx)
