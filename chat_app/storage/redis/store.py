"""LangGraph's RedisStore, with every namespace kept as one plain label.

RedisStore (langgraph-checkpoint-redis 0.5.2) finds items through a tag
query on the dot-joined namespace. With redis-py 6 or later that query does
not match a namespace with punctuation (two parts, a UUID, a user id like
``john.doe``): ``get`` finds nothing; and the search module ignores tags
longer than it indexes (a 200-character user id): ``search`` finds nothing
either. So the app's namespaces never reach it as they are: each is stored
under one label, ``n`` and 40 hex digits of a SHA-256 of the namespace,
which both calls find; the hash ``chat-app:store-namespaces`` maps each label
back to its namespace. Searching a namespace prefix and listing namespaces
read that hash, then search each matching namespace exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from langgraph.store.redis import RedisStore

NAMES = "chat-app:store-namespaces"


def label(namespace: tuple[str, ...]) -> str:
    digest = hashlib.sha256(json.dumps(list(namespace)).encode()).hexdigest()
    return "n" + digest[:40]


def _matches(namespace: tuple[str, ...], path: tuple[str, ...], suffix: bool) -> bool:
    if len(path) > len(namespace):
        return False
    part = namespace[len(namespace) - len(path) :] if suffix else namespace[: len(path)]
    return all(p in ("*", n) for p, n in zip(path, part, strict=True))


class AppRedisStore(RedisStore):
    """RedisStore on one-label namespaces (see the module)."""

    def __init__(self, conn: Any, names: Any) -> None:
        super().__init__(conn)
        self.names = names  # a client with decode_responses=True

    def _namespaces(self) -> list[tuple[str, ...]]:
        return sorted(tuple(json.loads(v)) for v in self.names.hvals(NAMES))

    def _back(self, item: Item, namespace: tuple[str, ...]) -> Item:
        if isinstance(item, SearchItem):
            return SearchItem(
                namespace, item.key, item.value, item.created_at, item.updated_at, item.score
            )
        return Item(
            value=item.value,
            key=item.key,
            namespace=namespace,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        results: list[Result] = [None] * len(ops)
        inner: list[Op] = []
        slots: list[tuple[int, tuple[str, ...]]] = []
        for i, op in enumerate(ops):
            if isinstance(op, GetOp):
                inner.append(GetOp((label(op.namespace),), op.key, op.refresh_ttl))
                slots.append((i, op.namespace))
            elif isinstance(op, PutOp):
                name = label(op.namespace)
                if op.value is not None:
                    self.names.hset(NAMES, name, json.dumps(list(op.namespace)))
                inner.append(PutOp((name,), op.key, op.value, op.index, op.ttl))
                slots.append((i, op.namespace))
            elif isinstance(op, SearchOp):
                results[i] = self._search(op)
            elif isinstance(op, ListNamespacesOp):
                results[i] = self._list(op)
        if inner:
            for (i, namespace), got in zip(slots, super().batch(inner), strict=True):
                results[i] = self._back(got, namespace) if isinstance(got, Item) else got
        return results

    def _search(self, op: SearchOp) -> list[SearchItem]:
        wanted = op.offset + op.limit
        found: list[SearchItem] = []
        for namespace in self._namespaces():
            if namespace[: len(op.namespace_prefix)] != op.namespace_prefix:
                continue
            exact = SearchOp((label(namespace),), op.filter, wanted, 0, op.query)
            got: Any = super().batch([exact])[0]
            found += [
                SearchItem(namespace, i.key, i.value, i.created_at, i.updated_at, i.score)
                for i in got or []
            ]
            if len(found) >= wanted:
                break
        return found[op.offset : wanted]

    def _list(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for namespace in self._namespaces():
            conditions = op.match_conditions or ()
            if not all(_matches(namespace, c.path, c.match_type == "suffix") for c in conditions):
                continue
            shown = namespace[: op.max_depth] if op.max_depth is not None else namespace
            if shown not in out:
                out.append(shown)
        return out[op.offset : op.offset + op.limit]
