"""The one serializer for checkpoints, on every backend.

Strict: no pickle fallback, and msgpack revives only LangGraph's allow-listed
types. Large blobs are zlib-compressed. SQLite and PostgreSQL use the same
serializer, so ``chat-app migrate`` can copy serialized writes byte for byte.
"""

from __future__ import annotations

import zlib
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

COMPRESS_PREFIX = "z:"
COMPRESS_MIN_BYTES = 512
MAX_BLOB_BYTES = 512 * 1024 * 1024


class CompressingSerializer(JsonPlusSerializer):
    """LangGraph's serializer, with large blobs zlib-compressed.

    The large blobs are the periodic full snapshots of the message list;
    conversation text compresses 3-5x. A subclass (not a wrapper) so that
    LangGraph can still derive its msgpack allow-list from it.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        typ, data = super().dumps_typed(obj)
        if len(data) >= COMPRESS_MIN_BYTES:
            return COMPRESS_PREFIX + typ, zlib.compress(data, 6)
        return typ, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        typ, blob = data
        if typ.startswith(COMPRESS_PREFIX):
            d = zlib.decompressobj()
            raw = d.decompress(blob, MAX_BLOB_BYTES)
            if d.unconsumed_tail:
                raise ValueError("checkpoint blob expands beyond the size limit")
            return super().loads_typed((typ[len(COMPRESS_PREFIX) :], raw))
        return super().loads_typed(data)


def strict_serde() -> JsonPlusSerializer:
    """No pickle, and msgpack revives only LangGraph's allow-listed types."""
    return CompressingSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
