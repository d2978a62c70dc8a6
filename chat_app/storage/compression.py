"""How older versions of the app compressed checkpoint blobs: type-tag
prefixes, the preset dictionary, inflating with a size limit.

Nothing is written this way any more: a custom type tag made every read by
stock LangGraph fail (``Unknown serialization type``). Blobs already stored
like this are still read, and ``chat-app upgrade-storage`` rewrites them in
LangGraph's own format.

Shared by the serializer (:mod:`chat_app.storage.serde`) and the start-up head
reader (:mod:`chat_app.storage.sqlite.head_reader`), which reads blobs without
LangGraph: nothing here imports it.

Most blobs are small: a turn writes a few checkpoints of a few hundred bytes
(channel names and versions, mostly the same from one checkpoint to the
next) and one message per write. Plain zlib finds little to share inside one
such blob, so they are compressed against a preset dictionary
(:data:`ZDICT_V1`): the msgpack of a typical checkpoint of this app's graph
and of typical messages. That halves a checkpoint. The type tag says which
dictionary a blob needs (``zd1:``); blobs written before it existed
(``z:``, plain zlib) are read as before.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

# Plain zlib (blobs written before the dictionary existed; still read).
COMPRESS_PREFIX = "z:"
# zlib with the preset dictionary ZDICT_V1 (what is written now).
ZDICT_PREFIX = "zd1:"
# Smaller blobs are stored as they are (the type tag alone would eat the gain).
COMPRESS_MIN_BYTES = 48
MAX_BLOB_BYTES = 512 * 1024 * 1024


def _mp(obj: Any) -> bytes:
    """Msgpack of plain data (str, int >= 0, None, list, dict), smallest forms.

    Written out here, not taken from a library, so that the dictionary below
    stays the same bytes whatever the installed msgpack does.
    """
    if obj is None:
        return b"\xc0"
    if isinstance(obj, bool):
        return b"\xc3" if obj else b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 0x80:
            return bytes([obj])
        if 0 <= obj < 0x100:
            return b"\xcc" + bytes([obj])
        if 0 <= obj < 0x10000:
            return b"\xcd" + struct.pack(">H", obj)
        raise ValueError(f"no dictionary form for {obj!r}")
    if isinstance(obj, str):
        data = obj.encode("utf-8")
        n = len(data)
        if n < 32:
            return bytes([0xA0 | n]) + data
        if n < 0x100:
            return b"\xd9" + bytes([n]) + data
        return b"\xda" + struct.pack(">H", n) + data
    if isinstance(obj, list):
        head = bytes([0x90 | len(obj)]) if len(obj) < 16 else b"\xdc" + struct.pack(">H", len(obj))
        return head + b"".join(_mp(x) for x in obj)
    if isinstance(obj, dict):
        head = bytes([0x80 | len(obj)]) if len(obj) < 16 else b"\xde" + struct.pack(">H", len(obj))
        return head + b"".join(_mp(k) + _mp(v) for k, v in obj.items())
    raise TypeError(f"no dictionary form for {type(obj).__name__}")


def _version(n: int) -> str:
    return f"{n:032}"


def _build_zdict_v1() -> bytes:
    """The preset dictionary of ``zd1:`` blobs. NEVER change what this returns:
    every ``zd1:`` blob needs exactly these bytes to be read back (a test pins
    their hash). To improve it, add a ``zd2:`` beside it.

    zlib finds a match anywhere in the dictionary and codes near ones more
    cheaply, so the most frequent blob (a checkpoint) comes last.
    """
    ai_message = [
        "langchain_core.messages.ai",
        "AIMessage",
        {
            "content": "",
            "additional_kwargs": {"status": "stopped"},
            "response_metadata": {
                "finish_reason": "stop",
                "model_name": "",
                "system_fingerprint": "",
                "service_tier": "default",
                "model_provider": "openai",
                "token_usage": {
                    "completion_tokens": 0,
                    "prompt_tokens": 0,
                    "total_tokens": 0,
                    "completion_tokens_details": None,
                    "prompt_tokens_details": None,
                },
            },
            "type": "ai",
            "name": None,
            "id": "lc_run--",
            "tool_calls": [],
            "invalid_tool_calls": [],
            "usage_metadata": {
                "input_tokens": 0,
                "output_tokens": 0,
                "total_tokens": 0,
                "input_token_details": {},
                "output_token_details": {},
            },
        },
        "model_validate_json",
    ]
    human_message = [
        "langchain_core.messages.human",
        "HumanMessage",
        {
            "content": "",
            "additional_kwargs": {},
            "response_metadata": {},
            "type": "human",
            "name": None,
            "id": "",
        },
        "model_validate_json",
    ]
    n = 1000
    # A checkpoint after each step of a turn: the input (its value still in
    # __start__), __start__, respond and remember.
    steps: list[tuple[dict[str, Any], tuple[int, int, int], tuple[int, int, int], list[str]]] = [
        ({}, (n + 2, n + 3, n + 4), (n + 1, n + 2, n + 3), ["learned"]),
        (
            {"branch:to:remember": None},
            (n + 2, n + 3, n + 3),
            (n + 1, n + 2, n - 1),
            ["branch:to:remember", "messages"],
        ),
        (
            {"branch:to:respond": None},
            (n + 2, n + 2, n),
            (n + 1, n - 2, n - 1),
            ["branch:to:respond", "messages"],
        ),
        ({"__start__": {"messages": []}}, (n + 1, n - 1, n), (n - 3, n - 2, n - 1), ["__start__"]),
    ]
    checkpoints = b""
    for values, (start, messages, remember), seen, updated in steps:
        checkpoint = {
            "v": 4,
            "ts": "2025-01-01T00:00:00.000000+00:00",
            "id": "1f000000-0000-6000-8000-000000000000",
            "channel_values": {
                "state_version": 2,
                "profile_context": "",
                "learned": [],
                "settings": {},
                **values,
            },
            "channel_versions": {
                "__start__": _version(start),
                "messages": _version(messages),
                "branch:to:respond": _version(messages),
                "state_version": _version(3),
                "profile_context": _version(3),
                "settings": _version(3),
                "branch:to:remember": _version(remember),
                "learned": _version(remember),
            },
            "versions_seen": {
                "__input__": {},
                "__start__": {"__start__": _version(seen[0])},
                "respond": {"branch:to:respond": _version(seen[1])},
                "remember": {"branch:to:remember": _version(seen[2])},
            },
            "updated_channels": updated,
        }
        checkpoints += _mp(checkpoint)
    return _mp(ai_message) + _mp(human_message) + checkpoints


ZDICT_V1 = _build_zdict_v1()


def inflate(blob: bytes, zdict: bytes | None) -> bytes:
    """zlib-inflate ``blob`` (with the preset dictionary ``zdict``), at most MAX_BLOB_BYTES."""
    d = zlib.decompressobj(zdict=zdict) if zdict is not None else zlib.decompressobj()
    raw = d.decompress(blob, MAX_BLOB_BYTES)
    if d.unconsumed_tail:
        raise ValueError("checkpoint blob expands beyond the size limit")
    return raw


def compress(typ: str, data: bytes) -> tuple[str, bytes]:
    """``(typ, data)`` compressed against ZDICT_V1 when that makes it smaller.

    Only for tests that build a database as older versions wrote it.
    """
    if len(data) >= COMPRESS_MIN_BYTES:
        c = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, ZDICT_V1)
        packed = c.compress(data) + c.flush()
        if len(packed) < len(data):
            return ZDICT_PREFIX + typ, packed
    return typ, data


def is_compressed(typ: str) -> bool:
    """True for a type tag of a blob compressed by an older version of the app."""
    return typ.startswith((ZDICT_PREFIX, COMPRESS_PREFIX))


def decompress(typ: str, blob: bytes) -> tuple[str, bytes]:
    """A stored ``(type, blob)`` without its compression: ValueError past the size limit."""
    if typ.startswith(ZDICT_PREFIX):
        return typ[len(ZDICT_PREFIX) :], inflate(blob, ZDICT_V1)
    if typ.startswith(COMPRESS_PREFIX):
        return typ[len(COMPRESS_PREFIX) :], inflate(blob, None)
    return typ, blob
