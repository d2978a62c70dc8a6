"""`chat-app import` is all or nothing on SQLite: a kill at any moment leaves
no trace of the thread (not listed, nothing in any table), and importing the
same file again gives the whole thread, every turn once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chat_app.cli import main
from chat_app.service import ChatService
from chat_app.service.transfer import import_thread
from tests.conftest import make_settings
from tests.reliability.import_crash import (
    THREAD_ID,
    assert_whole,
    child_env,
    stop_import,
    write_export,
)

TURNS = 1500
KILLED_TURNS = 500  # a random kill lands anywhere in a shorter import too
TABLES = ("checkpoints", "writes", "app_threads", "app_messages", "app_notes")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("export") / "thread.json", TURNS)


@pytest.fixture(scope="module")
def short_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("export") / "short.json", KILLED_TURNS)


def _service(data_dir: Path) -> ChatService:
    return ChatService(make_settings(data_dir))


def _rows_left(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "chat.db") as conn:
        return {
            t: conn.execute(
                f"SELECT count(*) FROM {t} WHERE thread_id = ?", (THREAD_ID,)
            ).fetchone()[0]
            for t in TABLES
        }


def _assert_no_trace(data_dir: Path) -> None:
    svc = _service(data_dir)
    try:
        assert svc.list_threads() == []
    finally:
        svc.close()
    assert set(_rows_left(data_dir).values()) == {0}


def _reimport_whole(
    data_dir: Path, export: Path, count: list[str] | None = None, turns: int = TURNS
) -> None:
    """Import again (through the CLI, or counting the writes when ``count`` is given)."""
    if count is None:
        assert main(["--data-dir", str(data_dir), "import", str(export)]) == 0
    svc = _service(data_dir)
    try:
        if count is not None:
            import_thread(svc, export.read_text(), step=count.append)
        assert_whole(svc, turns)
    finally:
        svc.close()


def test_import_stopped_after_any_write_leaves_nothing_and_imports_again(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writes: list[str] = []
    for k in (1, 700, 1179, 0):
        # 0 stands for the last write, the one just before the commit.
        k = k or len(writes)
        data_dir = tmp_path / f"stop-{k}"
        stop_import(data_dir, export, k)
        _assert_no_trace(data_dir)
        if k == 1179:
            assert main(["--data-dir", str(data_dir), "doctor"]) == 0
            assert capsys.readouterr().out.rstrip().endswith("healthy")
        # The first import again also counts the writes of a whole import.
        _reimport_whole(data_dir, export, count=writes if not writes else None)
    assert len(writes) > TURNS


def test_import_sigkilled_at_random_moments_is_whole_or_absent(
    short_export: Path, tmp_path: Path
) -> None:
    cmd = [sys.executable, "-m", "chat_app", "import", str(short_export)]
    env = {**child_env(), "XDG_CONFIG_HOME": str(tmp_path / "config")}

    def start(data_dir: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*cmd[:3], "--data-dir", str(data_dir), *cmd[3:]],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    t0 = time.monotonic()
    whole = start(tmp_path / "uninterrupted")
    assert whole.wait(timeout=300) == 0
    took = time.monotonic() - t0
    rng = random.Random(7)
    killed = 0
    for i in range(3):
        data_dir = tmp_path / f"kill-{i}"
        proc = start(data_dir)
        try:
            proc.wait(timeout=rng.uniform(0.2, 1.0) * took)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.returncode == 0:
            continue  # finished before the kill: nothing to check here
        killed += 1
        svc = _service(data_dir)
        try:
            listed = svc.list_threads()
            # Killed after its commit (the process was still exiting): whole.
            whole_already = [t.message_count for t in listed] == [2 * KILLED_TURNS]
        finally:
            svc.close()
        if whole_already:
            continue
        _assert_no_trace(data_dir)
        _reimport_whole(data_dir, short_export, turns=KILLED_TURNS)
    assert killed
