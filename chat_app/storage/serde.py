"""The one serializer for checkpoints, on every backend.

Strict: no pickle fallback, and msgpack revives only LangGraph's allow-listed
types. New blobs are written exactly as LangGraph's own ``JsonPlusSerializer``
writes them (type ``msgpack``, no compression), so a stock ``SqliteSaver`` or
``PostgresSaver`` reads the database with its default serializer. Blobs
written by older versions of the app (``zd1:`` / ``z:``, zlib-compressed, see
:mod:`chat_app.storage.compression`) are still read, and ``chat-app
upgrade-storage`` rewrites them in the stock format. SQLite and PostgreSQL use
the same serializer, so ``chat-app migrate`` can copy serialized writes byte
for byte.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from chat_app.storage.compression import COMPRESS_PREFIX as COMPRESS_PREFIX
from chat_app.storage.compression import MAX_BLOB_BYTES as MAX_BLOB_BYTES
from chat_app.storage.compression import ZDICT_PREFIX as ZDICT_PREFIX
from chat_app.storage.compression import ZDICT_V1 as ZDICT_V1
from chat_app.storage.compression import decompress, is_compressed


class StockSerializer(JsonPlusSerializer):
    """LangGraph's serializer; reads (never writes) the app's old compressed blobs.

    A subclass (not a wrapper) so that LangGraph can still derive its msgpack
    allow-list from it.
    """

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return super().loads_typed(decompress(*data))


def strict_serde() -> JsonPlusSerializer:
    """No pickle, and msgpack revives only LangGraph's allow-listed types."""
    return StockSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


def needs_upgrade(typ: str | None) -> bool:
    """True for a blob type tag only this app reads (an old compressed blob)."""
    return typ is not None and is_compressed(typ)
