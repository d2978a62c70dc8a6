"""What the app-level measurements share, without importing the agent.

The start-up probe imports only this (and the app): importing LangChain or
LangGraph here would put their import time into every start-up figure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

# As in the app: strict msgpack, set before langgraph is imported.
os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")

from chat_app.config import Settings, load_settings

USER = "bench"
SIZE = (120, 40)


def make_settings(data_dir: Path, token_delay_ms: float = 0.0) -> Settings:
    return load_settings(
        None,
        env={},
        overrides={
            "storage": {"data_dir": str(data_dir)},
            "model": {"offline_token_delay_ms": token_delay_ms},
            "user": {"id": USER},
        },
        use_user_config=False,
    )


def rss_mb() -> float:
    """Resident memory of this process, in MB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def settle(pilot: Any) -> None:
    """Workers finished, every pending message handled, one full frame drawn."""
    app = pilot.app
    for _ in range(2):
        await app.workers.wait_for_complete()
        await pilot.pause()
    app.screen._compositor.render_full_update()


class FrameClock:
    """When the app last drew a frame: what a person sees, without the wait that
    confirms the app is idle (at least two 20 ms windows, see ``settle``).

    Headless, a frame is rendered in full and only not written to a terminal.
    """

    def __init__(self, app: Any) -> None:
        self.last = 0.0
        display = app._display

        def timed(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None:  # None: nothing on screen changed
                self.last = time.perf_counter()

        app._display = timed

    def ms_since(self, t0: float) -> float:
        """From ``t0`` to the last frame drawn since (nan if there was none)."""
        return (self.last - t0) * 1000 if self.last > t0 else float("nan")
