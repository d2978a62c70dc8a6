"""``python -m benchmarks.redis_saver [--url URL] [--checkpoints N] [--json FILE]``.

Time per call of LangGraph's RedisSaver beside the stock SqliteSaver (a file,
WAL) on one thread of N checkpoints (1,000 by default), each checkpoint with a
turn's worth of channel values (two short messages, as the app's DeltaChannel
stores them) and one pending write: put, put_writes, get_tuple of the latest
and of a given checkpoint, list of the whole thread, of its last 10, and
list(None). No target: figures for choosing a backend.

Without ``--url`` it runs scripts/redis8 on a free port and stops it after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def redis8() -> Iterator[str]:
    """A Redis 8 server of scripts/redis8 on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="chat-app-redis8-") as state:
        env = {
            **os.environ,
            "REDIS8_PORT": str(port),
            "REDIS8_DIR": state,
            "PYTHON": sys.executable,
        }
        script = str(ROOT / "scripts" / "redis8")
        url = subprocess.run(
            [script, "start"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        try:
            yield url
        finally:
            subprocess.run([script, "stop"], env=env, check=True, capture_output=True)


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "mean_ms": statistics.fmean(samples) * 1000,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
    }


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure(saver: Any, n: int) -> dict[str, dict[str, float]]:
    """Figures for one saver: a fresh thread of ``n`` checkpoints."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.base import empty_checkpoint

    thread = str(uuid.uuid4())
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    puts, writes, ids = [], [], []
    for step in range(n):
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {
            "messages": [
                HumanMessage(content=f"question {step} " * 8, id=str(uuid.uuid4())),
                AIMessage(content=f"answer {step} " * 30, id=str(uuid.uuid4())),
            ]
        }
        checkpoint["channel_versions"] = {"messages": step + 1}
        metadata: Any = {"source": "loop", "step": step}
        t0 = time.perf_counter()
        config = saver.put(config, checkpoint, metadata, {"messages": step + 1})
        puts.append(time.perf_counter() - t0)
        write = [("messages", [AIMessage(content="partial", id=str(uuid.uuid4()))])]
        t0 = time.perf_counter()
        saver.put_writes(config, write, str(uuid.uuid4()))
        writes.append(time.perf_counter() - t0)
        ids.append(config["configurable"]["checkpoint_id"])

    head = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    rng = random.Random(7)

    def by_id() -> Any:
        cid = rng.choice(ids)
        return saver.get_tuple({"configurable": {**head["configurable"], "checkpoint_id": cid}})

    reps = max(5, min(200, n))
    return {
        "put": _ms(puts),
        "put_writes": _ms(writes),
        "get_tuple latest": _ms(_timed(lambda: saver.get_tuple(head), reps)),
        "get_tuple by id": _ms(_timed(by_id, reps)),
        f"list thread ({n})": _ms(_timed(lambda: list(saver.list(head)), 5)),
        "list thread, limit 10": _ms(_timed(lambda: list(saver.list(head, limit=10)), reps)),
        f"list(None) ({n})": _ms(_timed(lambda: list(saver.list(None)), 5)),
    }


def run(url: str, n: int) -> dict[str, Any]:
    import redis
    from langgraph.checkpoint.redis import RedisSaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    client = redis.Redis.from_url(url)
    client.flushall()
    redis_saver = RedisSaver(redis_client=client)
    redis_saver.setup()
    figures = {"redis": measure(redis_saver, n)}
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bench.db", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        figures["sqlite"] = measure(SqliteSaver(conn), n)
        conn.close()
    info = client.info("server")
    client.flushall()
    client.close()
    return {"checkpoints": n, "redis_version": info.get("redis_version"), "figures": figures}


def table(doc: dict[str, Any]) -> str:
    rows = [f"{'call':<26}{'redis mean':>12}{'p95':>9}{'sqlite mean':>13}{'p95':>9}{'ratio':>8}"]
    red, lite = doc["figures"]["redis"], doc["figures"]["sqlite"]
    for name in red:
        r, s = red[name], lite[name]
        ratio = r["mean_ms"] / s["mean_ms"] if s["mean_ms"] else float("nan")
        rows.append(
            f"{name:<26}{r['mean_ms']:>10.3f}ms{r['p95_ms']:>7.2f}ms"
            f"{s['mean_ms']:>11.3f}ms{s['p95_ms']:>7.2f}ms{ratio:>7.2f}x"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_saver")
    parser.add_argument("--url", help="a Redis 8 with JSON and search (default: start one)")
    parser.add_argument("--checkpoints", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(redis8())
        doc = run(url, args.checkpoints)
    print(f"{args.checkpoints} checkpoints on one thread, Redis {doc['redis_version']}")
    print(table(doc))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
