"""The one serializer for checkpoints, on every backend.

Strict: no pickle fallback, and msgpack revives only LangGraph's allow-listed
types. Blobs are zlib-compressed against a preset dictionary when that makes
them smaller (see :mod:`chat_app.core.compression`). SQLite and PostgreSQL use
the same serializer, so ``chat-app migrate`` can copy serialized writes byte
for byte.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from chat_app.core.compression import COMPRESS_MIN_BYTES as COMPRESS_MIN_BYTES
from chat_app.core.compression import COMPRESS_PREFIX as COMPRESS_PREFIX
from chat_app.core.compression import MAX_BLOB_BYTES as MAX_BLOB_BYTES
from chat_app.core.compression import ZDICT_PREFIX as ZDICT_PREFIX
from chat_app.core.compression import ZDICT_V1 as ZDICT_V1
from chat_app.core.compression import compress, decompress


class CompressingSerializer(JsonPlusSerializer):
    """LangGraph's serializer, with blobs zlib-compressed (preset dictionary).

    A subclass (not a wrapper) so that LangGraph can still derive its msgpack
    allow-list from it.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return compress(*super().dumps_typed(obj))

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return super().loads_typed(decompress(*data))


def strict_serde() -> JsonPlusSerializer:
    """No pickle, and msgpack revives only LangGraph's allow-listed types."""
    return CompressingSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
