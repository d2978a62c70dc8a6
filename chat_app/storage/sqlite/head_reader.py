"""The conversation at a thread's head, read from SQLite without LangGraph.

Opening a thread needs only its messages' roles, ids and text. Reading them
through the graph (``get_state``) means LangChain and LangGraph (over a second
of imports at start-up) and a pydantic object per message. Here the same rows
are read with plain SQL and decoded with msgpack into dicts: the walk from the
head up to the nearest snapshot of the message channel is the one
:class:`~chat_app.storage.sqlite.fast_saver.FastSqliteSaver` does, and the writes since
are folded the way ``add_messages`` folds them (replace by id, else append).

Only the usual shape is handled: messages of LangChain's own classes with
ids and text content, written as plain lists. Anything else (a removal, an
unknown type, content blocks, a damaged blob, a newer schema) returns
``None``, and the caller reads through LangGraph, which also reports damage.
Nothing is ever instantiated from the stored data.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from typing import Any

import ormsgpack

from chat_app.service.events import ChatMessage
from chat_app.storage.compression import decompress
from graphs.langgraph_compat import COUNTERS, EXT_DELTA_SNAPSHOT, EXT_PYDANTIC_V2

# The state schema this reader knows (graphs.state.STATE_VERSION). Channels
# added without a new version (history_summary, profile_pending,
# profile_error) are for the model and the profile, not the chat: not read here.
KNOWN_STATE_VERSION = 2

CHANNEL = "messages"
_ROLES = {
    ("langchain_core.messages.human", "HumanMessage"): "user",
    ("langchain_core.messages.human", "HumanMessageChunk"): "user",
    ("langchain_core.messages.ai", "AIMessage"): "assistant",
    ("langchain_core.messages.ai", "AIMessageChunk"): "assistant",
}
# Kept in the list (they take part in replace-by-id) but not shown.
_HIDDEN = {
    ("langchain_core.messages.system", "SystemMessage"),
    ("langchain_core.messages.system", "SystemMessageChunk"),
    ("langchain_core.messages.tool", "ToolMessage"),
    ("langchain_core.messages.tool", "ToolMessageChunk"),
}


class Unreadable(Exception):
    """Not the usual shape: read through LangGraph instead."""


# An extension value decodes to the tuple ``(code, value)``: msgpack data
# decodes to lists, never tuples, so a tuple is always one of these. (A class
# instance per message cost ~2 us each: 20 ms of opening 10,000 messages.)
Ext = tuple[int, Any]
_OPTION = ormsgpack.OPT_NON_STR_KEYS
_unpackb = ormsgpack.unpackb


def _ext_hook(code: int, data: bytes) -> Ext:
    return (code, _unpackb(data, ext_hook=_ext_hook, option=_OPTION))


def decode(typ: str, blob: bytes | None) -> Any:
    """A stored blob as plain data (extension values as ``(code, value)`` tuples)."""
    if blob is None or typ in ("null", "empty"):
        return None
    try:
        typ, blob = decompress(typ, blob)
    except (ValueError, zlib.error) as exc:
        raise Unreadable("not a readable compressed blob") from exc
    if typ != "msgpack":
        raise Unreadable(f"blob type {typ!r}")
    try:
        return _unpackb(blob, ext_hook=_ext_hook, option=_OPTION)
    except (ormsgpack.MsgpackDecodeError, ValueError, TypeError) as exc:
        raise Unreadable("not msgpack") from exc


def _message(value: Any) -> tuple[str, ChatMessage | None]:
    """(id, what the chat shows or None for a hidden message) of one stored message."""
    # Run once per message when a thread opens: exact type checks, no helpers.
    if type(value) is not tuple or value[0] != EXT_PYDANTIC_V2:
        raise Unreadable("not a message")
    parts = value[1]
    if type(parts) is not list or len(parts) < 3 or type(parts[2]) is not dict:
        raise Unreadable("not a message")
    fields: dict[str, Any] = parts[2]
    msg_id = fields.get("id")
    if type(msg_id) is not str or not msg_id:
        raise Unreadable("a message without an id")
    cls = (parts[0], parts[1])
    role = _ROLES.get(cls)
    if role is None:
        if cls in _HIDDEN:
            return msg_id, None
        raise Unreadable(f"message class {cls!r}")
    text = fields.get("content")
    if type(text) is not str:
        raise Unreadable("content blocks")
    kwargs = fields.get("additional_kwargs")
    status = kwargs.get("status", "") if type(kwargs) is dict else ""
    return msg_id, ChatMessage(msg_id, role, text, status if type(status) is str else "")


def _messages(value: Any) -> list[tuple[str, ChatMessage | None]]:
    if type(value) is tuple and value[0] == EXT_DELTA_SNAPSHOT:
        value = value[1]
    if not isinstance(value, list):
        raise Unreadable("not a list of messages")
    return [_message(v) for v in value]


def _fold(base: list[tuple[str, ChatMessage | None]], writes: list[Any]) -> list[Any]:
    """``add_messages`` over plain lists: a known id is replaced in place, a new one appended."""
    merged = list(base)
    where = {mid: i for i, (mid, _) in enumerate(merged)}
    for w in writes:
        for mid, msg in _messages(w):
            i = where.get(mid)
            if i is None:
                where[mid] = len(merged)
                merged.append((mid, msg))
            else:
                merged[i] = (mid, msg)
    return merged


def counters(meta_blob: Any) -> dict[str, Any]:
    """The delta counters of a checkpoint's metadata (empty: a snapshot of every channel)."""
    try:
        meta = json.loads(meta_blob) if meta_blob else {}
    except (TypeError, ValueError):
        return {}
    found = meta.get(COUNTERS) if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


# A checkpoint and its ancestors, nearest first: rows ``(id, metadata,
# depth)``, with no ORDER BY, so they come out as the walk makes them (one row
# per step) and a reader stops when it has found its snapshot without the rest
# being made. The walk does not stop in SQL at a checkpoint without delta
# counters: that means a snapshot only on the LangGraph versions that write
# counters, so the reader checks that the checkpoint holds the channel.
CHAIN_SQL = """
WITH RECURSIVE chain(id, parent, meta, depth) AS (
    SELECT checkpoint_id, parent_checkpoint_id, metadata, 0 FROM checkpoints
    WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?
    UNION ALL
    SELECT c.checkpoint_id, c.parent_checkpoint_id, c.metadata, chain.depth + 1
    FROM checkpoints c JOIN chain ON c.checkpoint_id = chain.parent
    WHERE c.thread_id = ? AND c.checkpoint_ns = ?
)
SELECT id, meta, depth FROM chain
"""


def _checkpoint(conn: sqlite3.Connection, thread_id: str, cid: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT type, checkpoint FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''"
        " AND checkpoint_id = ?",
        (thread_id, cid),
    ).fetchone()
    cp = decode(row[0], row[1]) if row else None
    if not isinstance(cp, dict) or not isinstance(cp.get("channel_values"), dict):
        raise Unreadable("not a checkpoint")
    return cp


def read_value(
    conn: sqlite3.Connection, thread_id: str, checkpoint_id: str | None, channel: str
) -> tuple[bool, Any]:
    """A plain channel's value at a checkpoint (the newest one when None), read
    without LangGraph: ``(True, value)`` (None when the channel is unset), or
    ``(False, None)``: not the usual shape, read it through LangGraph."""
    try:
        if checkpoint_id is None:
            row = conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ?"
                " AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
            if row is None:
                return True, None
            checkpoint_id = str(row[0])
        value = _checkpoint(conn, thread_id, checkpoint_id)["channel_values"].get(channel)
    except Exception:
        return False, None
    # Only plain data: an extension value (a tuple here) is LangGraph's to revive.
    plain = value is None or (
        isinstance(value, dict) and all(isinstance(v, str | int | float) for v in value.values())
    )
    return (True, value) if plain else (False, None)


def read_head(conn: sqlite3.Connection, thread_id: str) -> list[ChatMessage] | None:
    """The messages at the thread's head as the chat shows them, or None (see above)."""
    try:
        return _read_head(conn, thread_id)
    except Exception:
        # Whatever it is (damage, a shape not handled here), the graph reads it
        # and reports it; this path never decides that a thread is damaged.
        return None


def _read_head(conn: sqlite3.Connection, thread_id: str) -> list[ChatMessage]:
    row = conn.execute(
        "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''"
        " ORDER BY checkpoint_id DESC LIMIT 1",
        (thread_id,),
    ).fetchone()
    if row is None:
        return []
    head_id = str(row[0])
    head = _checkpoint(conn, thread_id, head_id)
    values: dict[str, Any] = head["channel_values"]
    version = values.get("state_version", 0)
    if not isinstance(version, int) or version > KNOWN_STATE_VERSION:
        raise Unreadable("a newer state schema")
    if CHANNEL in values:
        return _shown(_messages(values[CHANNEL]))
    if CHANNEL not in (head.get("channel_versions") or {}):
        return []
    chain = conn.execute(CHAIN_SQL, (thread_id, "", head_id, thread_id, ""))
    ancestors: list[str] = []
    seed: list[tuple[str, ChatMessage | None]] = []
    try:
        for i, (cid, meta_blob, depth) in enumerate(chain):
            if depth != i:
                raise Unreadable("checkpoint ancestors read out of order")
            if i == 0:
                continue
            ancestors.append(str(cid))
            if CHANNEL in counters(meta_blob):
                continue
            found = _checkpoint(conn, thread_id, str(cid))["channel_values"]
            if CHANNEL in found:
                seed = _messages(found[CHANNEL])
                break
    finally:
        chain.close()
    needed = ancestors
    rows = []
    if needed:
        rows = conn.execute(
            "SELECT checkpoint_id, task_path, task_id, idx, type, value FROM writes"
            " WHERE thread_id = ? AND checkpoint_ns = '' AND channel = ?"
            " AND checkpoint_id IN (SELECT value FROM json_each(?))",
            (thread_id, CHANNEL, json.dumps(needed)),
        ).fetchall()
    order = {cid: i for i, cid in enumerate(reversed(needed))}
    # Oldest checkpoint first; within one, the order LangGraph applies a step's writes.
    rows.sort(key=lambda r: (order[r[0]], r[1] or "", r[2], r[3]))
    return _shown(_fold(seed, [decode(r[4], r[5]) for r in rows]))


def _shown(messages: list[tuple[str, ChatMessage | None]]) -> list[ChatMessage]:
    return [m for _, m in messages if m is not None]
