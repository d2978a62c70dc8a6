"""Many processes using a new data directory at the same moment all succeed.

Twenty `chat-app threads` (or `profile`, which also sets up the profile
store) started together on a directory that does not exist yet race to
create it, the database and the tables; set-up must be idempotent under that
(directories made exist-ok, tables created inside ``BEGIN IMMEDIATE`` with
the busy timeout honoured, LangGraph's store migrations run by one process
at a time: two at once failed with "duplicate column name").
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROCESSES = 20
ROUNDS = 2
# Each child loads the program, says READY, then waits for the gate file: all
# twenty reach set-up within a few milliseconds of each other (started
# plainly, their imports alone spread them over seconds).
CHILD = """
import os, sys, time
import chat_app.cli, chat_app.service, chat_app.storage.sqlite.fast_saver, langgraph.store.sqlite
print("READY", flush=True)
gate = sys.argv[1]
deadline = time.monotonic() + 60
while not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.001)
sys.exit(chat_app.cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("command", "round_"), [("threads", 0), *(("profile", r) for r in range(ROUNDS))]
)
def test_twenty_first_uses_at_once(tmp_path: Path, command: str, round_: int) -> None:
    data = tmp_path / f"new-{round_}" / "data"
    gate = tmp_path / "gate"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(gate), "--data-dir", str(data), command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        for _ in range(PROCESSES)
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "READY"
    gate.touch()
    started = time.monotonic()
    failures = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            failures.append((p.returncode, err.strip()))
    assert failures == [], failures
    assert time.monotonic() - started < 60
    conn = sqlite3.connect(data / "chat.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    assert {"checkpoints", "writes", "app_threads"} <= tables
    if command == "profile":
        assert "store" in tables
