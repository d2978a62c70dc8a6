"""SqliteSaver with a fast ancestor walk for delta channels.

The default ``get_delta_channel_history`` calls ``get_tuple`` once per
ancestor (two queries and a full deserialization each), so rebuilding the
message list costs time in proportion to the distance to the last snapshot.
Here one recursive query walks the parent chain and stops at the nearest
snapshot (LangGraph drops a channel from ``counters_since_delta_snapshot``
in the metadata when it snapshots it; a checkpoint without counters is read
and trusted only if it really holds the channel), one query fetches the
writes, and only the candidate snapshot blobs are deserialized. Same contract as the
default: writes from the parent down to the seed checkpoint, oldest first.

Deserialized snapshots are kept in a small cache: every turn of a thread
reads the same snapshot until the next one is written, and deserializing it
costs time in proportion to the length of the conversation.

For channels whose reducer it is given, the saver also folds the history
itself and keeps the result, the channel's value at that checkpoint, in a
second small cache. The next turn's walk stops at the first cached
checkpoint it meets, so it reads and folds only that turn's few writes
instead of everything since the last snapshot: the cost of a turn no longer
depends on how far the snapshot is, which lets snapshots be rare (a smaller
database) without slowing a long thread down.

Older databases have ``checkpoints`` as a ``WITHOUT ROWID`` table (same
columns and key as SqliteSaver's), made while checkpoints were stored
compressed and small; a new database gets SqliteSaver's own layout (see
:mod:`chat_app.storage.sqlite.checkpoint_schema`). Every query is the same on both.

Metadata is written as compact JSON, without an empty ``parents`` map
(LangGraph reads it with ``{}`` as the default): it is in every row, and the
history pane and the ancestor walk read it with SQL's JSON functions, which
take either form.

Versions are plain zero-padded counters: LangGraph's random suffix keeps
versions unique where a separate blob table is keyed by them, but SQLite
stores channel values inside the checkpoint, and the suffix's random digits
were most of each checkpoint. They still sort after every
version written in the old format.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    PendingWrite,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.sqlite import SqliteSaver

from chat_app.storage.sqlite.checkpoint_schema import CHECKPOINTS_SCHEMA
from chat_app.storage.sqlite.head_reader import CHAIN_SQL, counters
from graphs.langgraph_compat import delta_snapshot, snapshot_value, writes_sort_key

if TYPE_CHECKING:
    from graphs.langgraph_compat import DeltaChannelHistory


def compact_metadata(metadata: Mapping[str, Any]) -> bytes:
    """Checkpoint metadata as SqliteSaver stores it (UTF-8 JSON), but compact:
    no spaces, and no empty ``parents`` (LangGraph's default when it is missing)."""
    meta = dict(metadata)
    if not meta.get("parents"):
        meta.pop("parents", None)
    return json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "ignore")


def _fresh(value: Any) -> Any:
    """A shallow copy of a cached seed, so a channel can never change the cache."""
    wrapped, inner = snapshot_value(value)
    if wrapped and isinstance(inner, list):
        return delta_snapshot(list(inner))
    return list(value) if isinstance(value, list) else value


Reducer = Callable[[Any, Sequence[Any]], Any]


class FastSqliteSaver(SqliteSaver):
    # Snapshots of a few threads (checkpoints never change once written).
    SNAPSHOT_CACHE_SIZE = 4
    # Folded values at recently read checkpoints (a few per thread).
    VALUE_CACHE_SIZE = 16

    def __init__(
        self, *args: Any, reducers: Mapping[str, Reducer] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._snapshots: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
        self._snapshots_lock = threading.Lock()
        self._reducers = dict(reducers or {})
        self._values: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()

    def setup(self) -> None:
        if not self.is_setup:
            # A no-op where the table exists (an older database keeps its layout).
            self.conn.executescript(CHECKPOINTS_SCHEMA)
        super().setup()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """SqliteSaver.put, with the metadata written compactly."""
        conf = config["configurable"]
        thread_id = conf["thread_id"]
        checkpoint_ns = conf["checkpoint_ns"]
        type_, serialized_checkpoint = self.serde.dumps_typed(checkpoint)
        serialized_metadata = compact_metadata(get_checkpoint_metadata(config, metadata))
        with self.cursor() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
                " parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(thread_id),
                    checkpoint_ns,
                    checkpoint["id"],
                    conf.get("checkpoint_id"),
                    type_,
                    serialized_checkpoint,
                    serialized_metadata,
                ),
            )
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def get_next_version(self, current: str | None, channel: None) -> str:
        # SqliteSaver's next version ("<32-digit counter>.<random>") without the suffix.
        return super().get_next_version(current, channel).split(".", 1)[0]

    def _cached_values(self, key: tuple[str, str, str]) -> dict[str, Any] | None:
        with self._snapshots_lock:
            found = self._values.get(key)
            if found is not None:
                self._values.move_to_end(key)
            return found

    def _keep_values(self, key: tuple[str, str, str], values: dict[str, Any]) -> None:
        with self._snapshots_lock:
            self._values[key] = values
            while len(self._values) > self.VALUE_CACHE_SIZE:
                self._values.popitem(last=False)

    def _snapshot_values(self, cur: Any, thread_id: str, ns: str, cid: str) -> dict[str, Any]:
        key = (thread_id, ns, cid)
        with self._snapshots_lock:
            cached = self._snapshots.get(key)
            if cached is not None:
                self._snapshots.move_to_end(key)
                return cached
        row = cur.execute(
            "SELECT type, checkpoint FROM checkpoints WHERE thread_id = ? AND"
            " checkpoint_ns = ? AND checkpoint_id = ?",
            (thread_id, ns, cid),
        ).fetchone()
        values: dict[str, Any] = self.serde.loads_typed((row[0], row[1]))["channel_values"]
        with self._snapshots_lock:
            self._snapshots[key] = values
            while len(self._snapshots) > self.SNAPSHOT_CACHE_SIZE:
                self._snapshots.popitem(last=False)
        return values

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        if not channels:
            return {}
        conf = config["configurable"]
        thread_id = str(conf["thread_id"])
        ns = str(conf.get("checkpoint_ns", ""))
        checkpoint_id = conf.get("checkpoint_id")
        seeds: dict[str, Any] = {}
        seed_at: dict[str, int] = {}
        with self.cursor(transaction=False) as cur:
            if not checkpoint_id:
                row = cur.execute(
                    "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND"
                    " checkpoint_ns = ? ORDER BY checkpoint_id DESC LIMIT 1",
                    (thread_id, ns),
                ).fetchone()
                if row is None:
                    return {ch: {"writes": []} for ch in channels}
                checkpoint_id = row[0]
            folded = self._cached_values((thread_id, ns, checkpoint_id))
            if folded is not None and all(ch in folded for ch in channels):
                return {ch: {"seed": _fresh(folded[ch]), "writes": []} for ch in channels}
            # Read lazily: the walk usually stops at a cached checkpoint a few
            # steps up, long before the snapshot the query would walk to.
            chain = self.conn.execute(CHAIN_SQL, (thread_id, ns, checkpoint_id, thread_id, ns))
            ancestors: list[str] = []
            try:
                for i, (cid, meta_blob, depth) in enumerate(chain):
                    if depth != i:
                        raise RuntimeError("checkpoint ancestors read out of order")
                    if i == 0:
                        continue
                    ancestors.append(cid)
                    pos = i - 1
                    known = self._cached_values((thread_id, ns, cid)) or {}
                    for ch in channels:
                        if ch not in seed_at and ch in known:
                            seeds[ch] = _fresh(known[ch])
                            seed_at[ch] = pos
                    if len(seed_at) == len(channels):
                        break
                    counted = counters(meta_blob)
                    candidates = [ch for ch in channels if ch not in seed_at and ch not in counted]
                    if not candidates:
                        continue
                    values = self._snapshot_values(cur, thread_id, ns, cid)
                    for ch in candidates:
                        if ch in values:
                            seeds[ch] = _fresh(values[ch])
                            seed_at[ch] = pos
                    if len(seed_at) == len(channels):
                        break
            finally:
                chain.close()
            # Writes only down to the farthest seed (or the root when one is missing).
            depth = len(ancestors) if len(seed_at) < len(channels) else max(seed_at.values()) + 1
            needed = ancestors[:depth]
            rows: list[tuple[Any, ...]] = []
            if needed:
                marks = ",".join("?" * len(channels))
                rows = cur.execute(
                    "SELECT checkpoint_id, task_id, channel, type, value, task_path, idx"
                    " FROM writes WHERE thread_id = ? AND checkpoint_ns = ?"
                    f" AND channel IN ({marks})"
                    " AND checkpoint_id IN (SELECT value FROM json_each(?))",
                    (thread_id, ns, *channels, json.dumps(needed)),
                ).fetchall()
        by_cp: dict[str, list[tuple[Any, ...]]] = {}
        for r in rows:
            by_cp.setdefault(r[0], []).append(r)
        result: dict[str, DeltaChannelHistory] = {}
        for ch in channels:
            last = seed_at.get(ch, len(ancestors) - 1)
            writes: list[PendingWrite] = []
            for cid in reversed(ancestors[: last + 1]):
                mine = [r for r in by_cp.get(cid, []) if r[2] == ch]
                mine.sort(key=lambda r: writes_sort_key(r[5] or "", r[1], r[6]))
                writes += [(r[1], r[2], self.serde.loads_typed((r[3], r[4]))) for r in mine]
            entry: DeltaChannelHistory = {"writes": writes}
            if ch in seeds:
                entry["seed"] = seeds[ch]
            result[ch] = entry
        return self._fold(thread_id, ns, checkpoint_id, result)

    def _fold(
        self, thread_id: str, ns: str, checkpoint_id: str, result: dict[str, DeltaChannelHistory]
    ) -> dict[str, DeltaChannelHistory]:
        """Fold each history whose reducer is known into one seed, and keep it.

        Same value as the channel's own replay (one reducer call over the
        writes, oldest first). Histories with anything but plain lists
        written (an Overwrite, say) are left for the channel to replay.
        """
        folded: dict[str, Any] = {}
        for ch, entry in result.items():
            reducer = self._reducers.get(ch)
            values = [v for _, _, v in entry["writes"]]
            if reducer is None or not all(isinstance(v, list) for v in values):
                continue
            seed = entry.get("seed")
            base = snapshot_value(seed)[1]
            if base is None:
                base = []
            elif not isinstance(base, list):
                continue
            folded[ch] = delta_snapshot(reducer(base, values) if values else list(base))
        if not folded:
            return result
        self._keep_values((thread_id, ns, checkpoint_id), folded)
        out = dict(result)
        for ch, value in folded.items():
            out[ch] = {"seed": _fresh(value), "writes": []}
        return out
