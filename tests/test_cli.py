"""The headless CLI, run as a real process on a fresh data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "chat_app"]


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env["CHAT_APP_DATA_DIR"] = str(data_dir)
    env["CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS"] = "0"
    env["XDG_CONFIG_HOME"] = str(data_dir.parent / "xdg-config")
    proc = subprocess.run(CLI + list(args), capture_output=True, text=True, env=env, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_name_is_remembered_across_threads_and_forgotten(data_dir: Path) -> None:
    first = run(data_dir, "send", "--new", "My name is Alice")
    thread = first.stderr.strip().splitlines()[-1]
    again = run(data_dir, "send", "--thread", thread, "What's my name?")
    assert "Alice" in again.stdout

    # A second process sees the same thread.
    listed = json.loads(run(data_dir, "threads", "--json").stdout)
    assert [t["id"] for t in listed] == [thread]
    assert listed[0]["message_count"] == 4

    other = run(data_dir, "send", "--new", "What's my name?")
    assert "Alice" in other.stdout
    assert other.stderr.strip().splitlines()[-1] != thread

    profile = json.loads(run(data_dir, "profile", "--json").stdout)
    name = next(f for f in profile if f["key"] == "name")
    assert name["value"] == "Alice"
    assert name["thread_id"] == thread
    assert name["message_id"] and name["learned_at"]

    run(data_dir, "profile", "forget", "name")
    after = run(data_dir, "send", "--new", "What's my name?")
    assert "Your name is Alice" not in after.stdout
    assert "know your name" in after.stdout


def test_history_rewind_and_new_branch(data_dir: Path) -> None:
    thread = run(data_dir, "send", "--new", "My name is Alice").stderr.strip().splitlines()[-1]
    run(data_dir, "send", "--thread", thread, "What's my name?")
    hist = json.loads(run(data_dir, "history", thread, "--json").stdout)
    # Newest first; one line per labelled checkpoint of the current branch.
    assert [h["kind"] for h in hist] == ["assistant", "user", "assistant", "user"]
    before_question = next(h["id"] for h in hist if h["summary"] == "you: What's my name?")
    out = run(data_dir, "rewind", thread, before_question)
    assert "2 messages" in out.stdout
    run(data_dir, "send", "--thread", thread, "I live in Paris")
    shown = run(data_dir, "show", thread).stdout
    assert "What's my name?" not in shown
    assert "I live in Paris" in shown
    # The old branch is still in the checkpoints.
    full = json.loads(run(data_dir, "history", thread, "--json", "--all").stdout)
    assert before_question in {h["id"] for h in full}
    export = json.loads(run(data_dir, "export", thread, "--format", "json").stdout)
    old = [m["text"] for b in export["other_branches"] for m in b["messages"]]
    assert "What's my name?" in old


def test_errors_are_one_line(data_dir: Path) -> None:
    run(data_dir, "threads")
    bad = run(data_dir, "show", "no-such-thread", check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0
    assert "no thread" in bad.stderr
    thread = run(data_dir, "send", "--new", "hello").stderr.strip().splitlines()[-1]
    bad = run(data_dir, "rewind", thread, "1f000000-0000-6000-8000-000000000000", check=False)
    assert bad.returncode == 1 and "no checkpoint" in bad.stderr
    assert "Traceback" not in bad.stderr
    empty = run(data_dir, "send", "--thread", thread, "   ", check=False)
    assert empty.returncode == 1 and "empty" in empty.stderr


def test_config_error_names_file_and_line(tmp_path: Path, data_dir: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[model]\nname = "offline"\nmax_attempts = \n')
    proc = run(data_dir, "--config", str(cfg), "threads", check=False)
    assert proc.returncode == 78
    assert proc.stderr.startswith(f"chat-app: config error: {cfg}:3:")
    assert "Traceback" not in proc.stderr


def test_data_dir_and_files_are_private(data_dir: Path) -> None:
    run(data_dir, "send", "--new", "hello")
    assert (data_dir.stat().st_mode & 0o777) == 0o700
    for f in data_dir.glob("chat.db*"):
        assert (f.stat().st_mode & 0o777) == 0o600, f
