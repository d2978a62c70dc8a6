"""An import stopped halfway, for the SQLite and the PostgreSQL tests alike.

``stop_import`` runs ``chat-app import`` in a child process that ends itself
with ``os._exit`` (no clean-up, like a kill) right after the k-th write of the
import, counted by ``transfer.import_thread``'s ``step`` hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chat_app.service import ChatService

ROOT = Path(__file__).resolve().parents[2]
THREAD_ID = "imported-thread"
STOPPED = 137

STOP_AFTER_WRITE = """
import os, sys
from pathlib import Path
from chat_app.config import load_settings
from chat_app.service import ChatService
from chat_app.service.transfer import import_thread

data_dir, dsn, export, stop_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
storage = {"data_dir": data_dir, "backend": "postgres" if dsn else "sqlite", "dsn": dsn}
service = ChatService(load_settings(None, env={}, overrides={"storage": storage},
                                    use_user_config=False))
writes = 0

def step(where):
    global writes
    writes += 1
    if writes == stop_after:
        os._exit(137)

import_thread(service, Path(export).read_text(), step=step)
print("finished")
"""


def write_export(path: Path, turns: int) -> Path:
    """A version-2 export of ``turns`` turns (user, then assistant) on one branch."""
    messages = []
    for i in range(turns):
        messages.append({"id": f"u{i}", "role": "user", "text": f"question {i}"})
        messages.append({"id": f"a{i}", "role": "assistant", "text": f"answer {i} " + "x" * 100})
    doc = {
        "format": "chat-app-thread",
        "version": 2,
        "thread": {"id": THREAD_ID, "title": f"{turns} turns"},
        "messages": messages,
        "other_branches": [],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_APP_")}
    env.update({"PYTHONPATH": str(ROOT), "LANGGRAPH_STRICT_MSGPACK": "true"})
    return env


def stop_import(data_dir: Path, export: Path, stop_after: int, dsn: str = "") -> None:
    """Import ``export`` in a child that dies right after its ``stop_after``-th write."""
    run = subprocess.run(
        [sys.executable, "-c", STOP_AFTER_WRITE, str(data_dir), dsn, str(export), str(stop_after)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == STOPPED, (stop_after, run.stdout[-500:], run.stderr[-2000:])


def assert_whole(service: ChatService, turns: int) -> None:
    """The imported thread has every turn, once, in order."""
    msgs = service.load_messages(THREAD_ID)
    assert [m.id for m in msgs] == [f"{r}{i}" for i in range(turns) for r in "ua"]
    assert msgs[-1].text.startswith(f"answer {turns - 1} ")
    info = service.get_thread(THREAD_ID)
    assert info.message_count == 2 * turns
    assert [t.id for t in service.list_threads()] == [THREAD_ID]
