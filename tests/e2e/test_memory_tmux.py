"""The TUI on the memory backend in a real terminal (tmux): everything works,
the status line says nothing is saved, and no file is created anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_tmux import CHAT_APP, Tmux

pytestmark = pytest.mark.e2e


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def tmux(home: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed (apt-get install -y tmux)")
        pytest.skip("tmux is not installed: apt-get install -y tmux to run this test")
    if not CHAT_APP.exists():
        pytest.skip(f"{CHAT_APP} not found: run pip install -e . first")
    name = f"chat-e2e-{uuid.uuid4().hex[:8]}"
    xdg = " ".join(
        f"{var}={home / sub}"
        for var, sub in (
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_CACHE_HOME", ".cache"),
            ("XDG_STATE_HOME", ".local/state"),
        )
    )
    # What the program says after it quits stays on the pane.
    command = (
        f"env -u COLUMNS -u LINES -u CHAT_APP_DATA_DIR HOME={home} {xdg} CHAT_APP_USER_ID=e2e"
        f" TERM=xterm-256color {CHAT_APP} --memory; echo program-ended; sleep 60"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "35", command], check=True
    )
    subprocess.run(["tmux", "resize-window", "-t", name, "-x", "120", "-y", "35"], check=False)
    try:
        yield Tmux(name)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_the_whole_app_works_in_memory_and_nothing_is_written(tmux: Tmux, home: Path) -> None:
    pane = tmux.wait_for("ctrl+j: new line")
    assert "memory: nothing is saved" in pane
    tmux.type("My name is Alice")
    tmux.keys("Enter")
    tmux.wait_for("I'll remember your name")
    tmux.wait_for("· idle")
    # A second thread; the profile answers from the first.
    tmux.keys("C-n")
    tmux.wait_for("(untitled)")
    tmux.type("What's my name?")
    tmux.keys("Enter")
    tmux.wait_for("Your name is Alice")
    tmux.keys("F4")
    tmux.wait_for("What I know")
    assert "Alice" in tmux.wait_for("learned")
    # Back to the first thread; History rewinds to before its message.
    tmux.keys("C-t")
    time.sleep(0.3)
    tmux.keys("Down", "Enter")
    tmux.wait_for("chat-app — My name is Alice")
    tmux.keys("F3")
    tmux.wait_for("2 entries")
    tmux.keys("Home")
    tmux.wait_for("Preview of an earlier point")
    tmux.keys("Enter")
    tmux.wait_for("Rewound")
    tmux.keys("Escape")
    tmux.type("I prefer tea")
    tmux.keys("Enter")
    pane = tmux.wait_for("you like tea")
    assert "memory: nothing is saved" in pane
    tmux.keys("F3")
    tmux.wait_for("1 fork")
    tmux.keys("C-q")
    pane = tmux.wait_for("program-ended")
    assert "nothing was kept" in pane
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
