"""Shared pieces of the benchmarks: results, settings, texts, timed models, baselines."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from benchmarks.app_env import USER as USER  # re-exported
from benchmarks.app_env import make_settings as make_settings  # re-exported
from benchmarks.app_env import rss_mb as rss_mb  # re-exported
from chat_app.config import Settings
from graphs.offline import OfflineChatModel


@dataclass
class Result:
    """One row of the table: a figure at one size, ours beside the baseline."""

    figure: str
    size: str
    ours: float | None
    baseline: float | None
    unit: str
    target: str
    met: bool | None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        """How many times better ours is than the baseline (> 1: ours wins)."""
        if not self.ours or not self.baseline:
            return None
        if self.higher_is_better:
            return self.ours / self.baseline
        return self.baseline / self.ours

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


WORDS = (  # noqa: SIM905 - a paragraph of words reads better than a list literal
    "the of and to in is you that it was for on are as with his they at be this have from or "
    "one had by word but not what all were we when your can said there use an each which she "
    "do how their if will up other about out many then them these so some her would make like "
    "him into time has look two more write go see number no way could people my than first "
    "water been call who oil its now find long down day did get come made may part garden "
    "train river coffee music winter python recipe travel budget"
).split()


def texts(seed: int = 1, chars: int = 200) -> Iterator[str]:
    """An endless supply of ~``chars``-character messages (deterministic)."""
    rnd = random.Random(seed)
    while True:
        out: list[str] = []
        n = 0
        while n < chars:
            w = rnd.choice(WORDS)
            out.append(w)
            n += len(w) + 1
        yield " ".join(out)[:chars].strip()


class ModelClock:
    """Seconds spent inside model calls (so they can be subtracted)."""

    total = 0.0


class TimedOfflineModel(OfflineChatModel):
    """The offline model, timing each call from its start to its last chunk.

    The app consumes ``astream`` (on a background loop); the baseline calls
    ``invoke``. LangChain's own overhead around the call counts as model time.
    """

    async def astream(self, input: Any, config: Any = None, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        t0 = time.perf_counter()
        try:
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk
        finally:
            ModelClock.total += time.perf_counter() - t0

    def stream(self, input: Any, config: Any = None, **kwargs: Any) -> Iterator[Any]:  # type: ignore[override]
        t0 = time.perf_counter()
        try:
            yield from super().stream(input, config, **kwargs)
        finally:
            ModelClock.total += time.perf_counter() - t0

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> BaseMessage:  # type: ignore[override]
        t0 = time.perf_counter()
        try:
            return super().invoke(input, config, **kwargs)
        finally:
            ModelClock.total += time.perf_counter() - t0


def timed_model_factory(settings: Settings) -> tuple[BaseChatModel, None]:
    return TimedOfflineModel(token_delay_s=0.0), None


class LongReplyModel(OfflineChatModel):
    """The offline model, answering with exactly ``n_tokens`` tokens (streaming benchmark)."""

    n_tokens: int = 2000

    def reply_text(self, messages: list[BaseMessage]) -> str:
        words = texts(seed=7, chars=10 * self.n_tokens)
        out: list[str] = []
        while len(out) < self.n_tokens:
            for i, w in enumerate(next(words).split()):
                if len(out) >= self.n_tokens:
                    break
                # Paragraphs and some Markdown, as a real long answer has.
                sep = "\n\n" if i % 60 == 59 else " "
                out.append(("**" + w + "**" if i % 17 == 0 else w) + sep)
        return "".join(out).rstrip() + "."


def long_reply_factory(n_tokens: int, delay_s: float) -> Any:
    def factory(settings: Settings) -> tuple[BaseChatModel, None]:
        return LongReplyModel(token_delay_s=delay_s, n_tokens=n_tokens), None

    return factory


def db_bytes(path: Path) -> int:
    """The database file plus its WAL and shared-memory files, if any."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            total += p.stat().st_size
    return total


def checkpoint_wal(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (backup API)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    a = sqlite3.connect(src)
    b = sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        b.close()
        a.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def median(values: list[float]) -> float:
    return percentile(values, 50)


# -- the naive baseline graph -----------------------------------------------------


def baseline_graph(checkpointer: Any) -> Any:
    """What the LangGraph docs show: a plain ``add_messages`` list, one model node."""
    from langgraph.graph import START, MessagesState, StateGraph

    model = TimedOfflineModel(token_delay_s=0.0)

    def chatbot(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("chatbot", chatbot)
    builder.add_edge(START, "chatbot")
    return builder.compile(checkpointer=checkpointer)
