"""What the app-level measurements share, without importing the agent.

The start-up probe imports only this (and the app): importing LangChain or
LangGraph here would put their import time into every start-up figure.
"""

from __future__ import annotations

import os
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
