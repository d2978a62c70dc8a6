"""T4 (an fsync between a turn's start and its ACK) and T10 (online backups
while turns run), against a real `chat-app soak` process."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.crash_harness import THREADS, TURN, Child, child_env


def test_every_ack_is_preceded_by_an_fsync(tmp_path: Path) -> None:
    """T4: with synchronous=FULL each acknowledged turn reached the disk."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    data = tmp_path / "data"
    turns = 10
    proc = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,write",
            "-e",
            "signal=none",
            sys.executable,
            "-m",
            "chat_app",
            "soak",
            "--thread",
            "t",
            "--count",
            str(turns),
        ],
        capture_output=True,
        text=True,
        env=child_env(data, 0),
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip("ptrace is not permitted here")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Walk the trace: an "ACK n" write to stdout must come after an fsync
    # that followed the previous ACK.
    synced = False
    acks = 0
    for line in proc.stderr.splitlines():
        if re.search(r"\b(fsync|fdatasync)\(", line):
            synced = True
        elif re.search(r'write\(1, "ACK \d+', line):
            assert synced, f"ACK {acks} without an fsync before it"
            acks += 1
            synced = False
    assert acks == turns


def test_backups_taken_while_turns_run_are_consistent(tmp_path: Path) -> None:
    """T10: `Connection.backup()` every 100 ms during turns; each copy is a
    valid database holding a prefix of the acknowledged turns."""
    data = tmp_path / "data"
    child = Child(data, token_delay_ms=1, count=60)
    assert child.go()
    db = data / "chat.db"
    backups: list[tuple[Path, set[int]]] = []
    while child.proc.poll() is None and len(backups) < 20:
        # Drain what the child printed so far without blocking.
        while not child.lines.empty():
            line = child.lines.get_nowait()
            if line is not None:
                child.seen.append(line)
        acked_before = {int(x.split()[1]) for x in child.seen if x.startswith("ACK ")}
        target = tmp_path / f"backup-{len(backups)}.db"
        src = sqlite3.connect(db, timeout=30)
        dst = sqlite3.connect(target)
        src.backup(dst)
        dst.close()
        src.close()
        backups.append((target, acked_before))
        time.sleep(0.1)
    child.finish(timeout_s=120)
    assert child.proc.returncode == 0
    assert len(backups) >= 10
    from chat_app.storage.serde import strict_serde
    from chat_app.storage.sqlite.fast_saver import FastSqliteSaver
    from graphs.graph import build_graph
    from graphs.models import make_offline_model

    for path, acked in backups:
        conn = sqlite3.connect(path, check_same_thread=False)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
        saver = FastSqliteSaver(conn, serde=strict_serde())
        present: list[int] = []
        graph = build_graph(make_offline_model()).compile(checkpointer=saver)
        for t in THREADS:
            values = graph.get_state({"configurable": {"thread_id": t}}).values or {}
            for m in values.get("messages", []):
                hit = TURN.match(str(m.content)) if m.type == "human" else None
                if hit:
                    present.append(int(hit.group(1)))
        conn.close()
        assert sorted(present) == list(range(len(present))), "not a prefix"
        assert acked <= set(present), "an acknowledged turn is missing from a later backup"
