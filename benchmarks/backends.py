"""Time per turn and the history listing on every backend: figures, not targets.

The same thread (the offline model, no token delay, the model's own time left
out) is written on SQLite, PostgreSQL and Redis, and each is timed the same
way: the median turn of the first ten and of the last ten, and listing the
thread's history. PostgreSQL needs a server at 127.0.0.1:5432 (trust; a
database of its own is made and dropped), Redis a Redis 8 with JSON and the
Query Engine (``scripts/redis8`` is started on a free port, and stopped).
A backend whose server is missing is left out, with a note saying so.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import (
    USER,
    ModelClock,
    Result,
    median,
    texts,
    timed_model_factory,
)
from chat_app.config import Settings, load_settings
from chat_app.service import ChatService

PG_ADMIN_DSN = os.environ.get(
    "CHAT_APP_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextlib.contextmanager
def _postgres() -> Iterator[str]:
    import psycopg

    name = f"chatapp_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with (
            contextlib.suppress(Exception),
            psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _redis() -> Iterator[str]:
    from benchmarks.redis_saver import redis8

    with redis8() as url:
        yield url


def _settings(work: Path, backend: str, url: str) -> Settings:
    storage: dict[str, Any] = {"data_dir": str(work / f"backend-{backend}")}
    if backend == "postgres":
        storage.update(backend="postgres", dsn=url)
    elif backend == "redis":
        storage.update(backend="redis", redis_url=url)
    return load_settings(
        None,
        env={},
        overrides={
            "storage": storage,
            "model": {"offline_token_delay_ms": 0.0},
            "user": {"id": USER},
        },
        use_user_config=False,
    )


def _one(settings: Settings, turns: int) -> dict[str, float]:
    svc = ChatService(settings, model_factory=timed_model_factory)
    try:
        tid = svc.create_thread("Backend benchmark").id
        gen = texts(seed=3)
        per_turn: list[float] = []
        for _ in range(turns):
            text = next(gen)
            m0 = ModelClock.total
            t0 = time.perf_counter()
            for _ev in svc.send(tid, text):
                pass
            per_turn.append(time.perf_counter() - t0 - (ModelClock.total - m0))
        listing = []
        for _ in range(5):
            t0 = time.perf_counter()
            svc.history(tid)
            listing.append(time.perf_counter() - t0)
        return {
            "first_ms": median(per_turn[:10]) * 1000,
            "last_ms": median(per_turn[-10:]) * 1000,
            "history_ms": median(listing) * 1000,
            "checkpoints": float(len(svc.history(tid).checkpoints)),
        }
    finally:
        svc.close()


def run(work: Path, quick: bool, log: Callable[[str], None]) -> list[Result]:
    turns = 20 if quick else 300
    servers: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
        "sqlite": lambda: contextlib.nullcontext(""),
        "postgres": _postgres,
        "redis": _redis,
    }
    results: list[Result] = []
    for backend, server in servers.items():
        log(f"backends: {backend}, {turns} turns")
        try:
            with server() as url:
                got = _one(_settings(work, backend, url), turns)
        except Exception as exc:  # a server that is not there: say so, go on
            note = f"not measured: {type(exc).__name__}: {str(exc)[:120]}"
            results.append(
                Result(f"time per turn [{backend}]", "—", None, None, "ms", "", None, note)
            )
            continue
        size = f"turn 10 / turn {turns}"
        results.append(
            Result(
                f"time per turn outside the model [{backend}]",
                size,
                got["last_ms"],
                None,
                "ms",
                "",
                None,
                f"turn 10: {got['first_ms']:.1f} ms; turn {turns}: {got['last_ms']:.1f} ms",
                extra=got,
            )
        )
        results.append(
            Result(
                f"history listing [{backend}]",
                f"{int(got['checkpoints']):,} checkpoints",
                got["history_ms"],
                None,
                "ms",
                "",
                None,
                extra=got,
            )
        )
    return results
