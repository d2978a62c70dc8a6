"""Measurements that need a fresh interpreter: start-up and resident memory.

``python -m benchmarks.probe startup DATA_DIR`` | ``memory DATA_DIR THREAD`` |
``naive-memory DB THREAD``. Prints one ``REPORT key=value ...`` line as soon as
the app is idle (the parent times the process up to that line).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import asyncio  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def report(**values: float) -> None:
    """Print the figures and leave at once: tearing the app down is not measured.

    (It also sidesteps a crash in the app's teardown, where a timer queries a
    widget that is already gone; reported separately.)
    """
    print("REPORT " + " ".join(f"{k}={v:.3f}" for k, v in values.items()), flush=True)
    sys.stderr.flush()
    os._exit(0)


async def startup(data: Path) -> None:
    # What `chat-app` imports and builds; the agent loads after the first
    # screen is idle (see chat_app.ui.app.AGENT_WARM_UP_DELAY_S).
    from benchmarks.app_env import SIZE, make_settings, rss_mb, settle
    from chat_app.service import ChatService
    from chat_app.ui.app import make_app

    svc = ChatService(make_settings(data))
    app = make_app(svc.settings, svc)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        report(idle_ms=(time.perf_counter() - T0) * 1000, rss_mb=rss_mb())
    svc.close()


async def memory(data: Path, thread_id: str) -> None:
    from benchmarks.app_env import SIZE, make_settings, rss_mb, settle
    from chat_app.service import ChatService
    from chat_app.ui.app import make_app

    svc = ChatService(make_settings(data))
    app = make_app(svc.settings, svc)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.warm_up()  # the agent and the profile, as after the first second of use
        await settle(pilot)
        app.open_thread(thread_id)
        await settle(pilot)
        gc.collect()
        report(rss_mb=rss_mb(), messages=len(app.chat.lines.messages))
    svc.close()


async def naive_memory(db: Path, thread_id: str) -> None:
    from benchmarks.app_env import SIZE, rss_mb, settle
    from benchmarks.ui import NaiveChat, baseline_messages

    texts = baseline_messages(db, thread_id)
    app = NaiveChat()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        gc.collect()
        before = rss_mb()
        await app.show(texts)
        await settle(pilot)
        gc.collect()
        report(before_mb=before, after_mb=rss_mb(), messages=len(texts))


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "startup":
        asyncio.run(startup(Path(args[0])))
    elif mode == "memory":
        asyncio.run(memory(Path(args[0]), args[1]))
    elif mode == "naive-memory":
        asyncio.run(naive_memory(Path(args[0]), args[1]))
    else:
        raise SystemExit(f"unknown probe {mode!r}")


if __name__ == "__main__":
    main()
