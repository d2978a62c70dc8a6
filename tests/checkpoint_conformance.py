"""Run LangGraph's published checkpointer conformance suite on a sync saver.

``langgraph-checkpoint-conformance`` calls the async methods (``aput``,
``aget_tuple``, ...); the app's savers are used synchronously, so a thin
adapter forwards each async call to the sync method of the saver the app
builds. Capabilities the saver does not implement are skipped by the suite;
of the optional ones, ``prune`` is run when the sync saver implements it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate


class AsyncOver(BaseCheckpointSaver[str]):
    """The async half of BaseCheckpointSaver, answered by a sync saver."""

    def __init__(self, inner: BaseCheckpointSaver[Any]) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    def get_next_version(self, current: Any, channel: Any) -> Any:
        return self.inner.get_next_version(current, channel)

    async def aget_tuple(self, config: Any) -> Any:
        return self.inner.get_tuple(config)

    async def alist(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        for item in self.inner.list(config, **kwargs):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self.inner.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.inner.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)


class AsyncOverWithPrune(AsyncOver):
    """AsyncOver for a saver that implements ``prune`` (the suite then runs it)."""

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.inner.prune(thread_ids, strategy=strategy)


def async_over(inner: BaseCheckpointSaver[Any]) -> AsyncOver:
    """The adapter for ``inner``: with ``aprune`` when its class implements ``prune``."""
    if type(inner).prune is not BaseCheckpointSaver.prune:
        return AsyncOverWithPrune(inner)
    return AsyncOver(inner)


def run_suite(
    name: str, make: Callable[[], AbstractContextManager[BaseCheckpointSaver[Any]]]
) -> Any:
    """The suite's report for savers made by ``make`` (a fresh one per capability)."""

    async def factory() -> AsyncIterator[BaseCheckpointSaver[Any]]:
        with make() as saver:
            yield async_over(saver)

    registered = checkpointer_test(name=name)(factory)
    return validate(registered)


def failures(report: Any) -> list[str]:
    out = []
    for cap, result in report.results.items():
        if result.detected and result.passed is not True:
            out.append(f"{cap}: {result.failures}")
    return out
