"""The real program in a real terminal (tmux): the walk-through from the issue.

Polling the pane with a deadline is the only way to wait on a real terminal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHAT_APP = Path(sys.executable).parent / "chat-app"
TIMEOUT_S = 20.0


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def keys(self, *keys: str, literal: bool = False) -> None:
        args = ["tmux", "send-keys", "-t", self.name]
        if literal:
            args.append("-l")
        subprocess.run([*args, *keys], check=True)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)

    def pane(self) -> str:
        out = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return out.stdout

    def wait_for(self, text: str, timeout: float = TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pane = self.pane()
            if text in pane:
                return pane
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; the pane shows:\n{self.pane()}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed (apt-get install -y tmux)")
        pytest.skip("tmux is not installed: apt-get install -y tmux to run this test")
    if not CHAT_APP.exists():
        pytest.skip(f"{CHAT_APP} not found: run pip install -e . first")
    name = f"chat-e2e-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    command = (
        # COLUMNS/LINES inherited from pytest would override the real pane size.
        f"env -u COLUMNS -u LINES CHAT_APP_DATA_DIR={data} CHAT_APP_USER_ID=e2e "
        f"TERM=xterm-256color XDG_CONFIG_HOME={tmp_path / 'config'} {CHAT_APP}"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "35", command], check=True
    )
    # A detached session may start at the server's default size: make it 120x35.
    subprocess.run(["tmux", "resize-window", "-t", name, "-x", "120", "-y", "35"], check=False)
    try:
        yield Tmux(name)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_walk_through(tmux: Tmux) -> None:
    tmux.wait_for("ctrl+j: new line")
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
    # Back to the first thread (second in the list, newest first).
    tmux.keys("C-t")
    time.sleep(0.3)
    tmux.keys("Down", "Enter")
    tmux.wait_for("chat-app — My name is Alice")
    # History: the first entry is "you: My name is Alice"; Enter rewinds to before it.
    tmux.keys("F3")
    tmux.wait_for("2 entries")
    tmux.keys("Home")
    tmux.wait_for("Preview of an earlier point")
    tmux.keys("Enter")
    tmux.wait_for("Rewound")
    tmux.keys("Escape")
    tmux.type("I prefer tea")
    tmux.keys("Enter")
    tmux.wait_for("you like tea")
    tmux.keys("F3")
    pane = tmux.wait_for("1 fork")
    assert "branch 2 of 2" in pane
    # On the fork row, left shows the other branch: both are kept.
    tmux.keys("Home")
    time.sleep(0.3)
    tmux.keys("Left")
    tmux.wait_for("branch 1 of 2")


def test_a_pasted_block_of_three_lines_is_sent_whole(tmux: Tmux) -> None:
    tmux.wait_for("ctrl+j: new line")
    # A bracketed paste, as every modern terminal sends one.
    subprocess.run(
        ["tmux", "set-buffer", "-b", "three", "alpha line\nbeta line\ngamma line"], check=True
    )
    subprocess.run(["tmux", "paste-buffer", "-p", "-b", "three", "-t", tmux.name], check=True)
    pane = tmux.wait_for("gamma line")
    assert "alpha line" in pane and "beta line" in pane
    tmux.type(" and more")
    tmux.keys("C-j")
    tmux.type("delta line")
    tmux.keys("Enter")
    pane = tmux.wait_for("You said")
    lines = pane.splitlines()
    at = next(i for i, line in enumerate(lines) if "▕ alpha line" in line)
    assert "beta line" in lines[at + 1]
    assert "gamma line and more" in lines[at + 2]
    assert "delta line" in lines[at + 3]
