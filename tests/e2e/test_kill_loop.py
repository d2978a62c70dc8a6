"""The real program under tmux, SIGKILLed at a random moment in the 3 s after
Enter, from a cold start each time: no message is lost or doubled.

Each round starts the app, types a unique message as soon as the box shows
what is typed (often before the first thread is shown, while the agent
loads) and presses Enter; the app is killed 0-3 s later. A message still in
the box at the kill was never shown as sent (the app had not read the Enter
yet): it is not counted. A message the app gives back
after a crash sits in the box and is sent with the next round's words, as a
person would. At the end every message is in a thread exactly once, or given
back as a draft: never both, never neither.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from chat_app.service import ChatService
from tests.conftest import make_settings
from tests.e2e.test_tmux import CHAT_APP, Tmux

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("KILL_LOOP_ROUNDS", "50"))
USER = "killer"


def start(name: str, data: Path, config: Path) -> Tmux:
    command = (
        f"env -u COLUMNS -u LINES CHAT_APP_DATA_DIR={data} CHAT_APP_USER_ID={USER} "
        "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS=15 CHAT_APP_RECOVERY_AUTO_RESUME=true "
        f"TERM=xterm-256color XDG_CONFIG_HOME={config} {CHAT_APP}"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "35", command], check=True
    )
    return Tmux(name)


def pane_pid(name: str) -> int:
    out = subprocess.run(
        ["tmux", "display-message", "-p", "-t", name, "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def in_the_box(pane: str, token: str) -> bool:
    """The token is in the message box (a bordered line), not yet sent."""
    return any(re.search(r"▊\s+[^▎]*" + token, line) for line in pane.splitlines())


def gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not die")


def test_fifty_kills_after_enter_lose_and_double_nothing(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed (apt-get install -y tmux)")
        pytest.skip("tmux is not installed: apt-get install -y tmux to run this test")
    data, config = tmp_path / "data", tmp_path / "config"
    rng = random.Random(os.environ.get("KILL_LOOP_SEED", "13"))
    sent: list[str] = []
    never_sent = 0
    for i in range(ROUNDS):
        name = f"chat-kill-{uuid.uuid4().hex[:8]}"
        tmux = start(name, data, config)
        try:
            pid = pane_pid(name)
            token = f"m{i:03d}x{uuid.uuid4().hex[:6]}"
            # The empty box, or a draft given back after the last kill.
            deadline = time.monotonic() + 20
            while not re.search(r"ctrl\+j: new line|▊\s+note m", tmux.pane()):
                assert time.monotonic() < deadline, tmux.pane()
                time.sleep(0.02)
            tmux.type(f"note {token}")
            deadline = time.monotonic() + 20
            while not in_the_box(tmux.pane(), token):
                assert time.monotonic() < deadline, tmux.pane()
                time.sleep(0.02)
            tmux.keys("Enter")
            time.sleep(rng.uniform(0.0, 3.0))
            last = tmux.pane()
            os.kill(pid, signal.SIGKILL)
            gone(pid)
            if in_the_box(last, token):
                never_sent += 1
            else:
                sent.append(token)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)

    # What the next start finds: interrupted replies finished, unsent texts given back.
    svc = ChatService(make_settings(data, user={"id": USER}))
    try:
        returned = " ".join(u.text for u in svc.unsent_messages())
        svc.recover(resume=True)
        in_threads = " ".join(
            m.text for t in svc.list_threads() for m in svc.load_messages(t.id) if m.role == "user"
        )
        assert svc.outbox.pending_count() == 0
    finally:
        svc.close()
    lost, doubled = [], []
    assert len(sent) >= ROUNDS * 0.8, f"only {len(sent)} of {ROUNDS} Enter keys were read"
    for token in sent:
        count = len(re.findall(token, in_threads)) + len(re.findall(token, returned))
        if count == 0:
            lost.append(token)
        elif count > 1:
            doubled.append(token)
    saved = sum(token in in_threads for token in sent)
    print(
        f"{ROUNDS} kills, {len(sent)} messages sent ({never_sent} still in the box):"
        f" {saved} in their threads, {len(sent) - saved} given back,"
        f" lost {len(lost)}, doubled {len(doubled)}",
        file=sys.stderr,
    )
    assert (lost, doubled) == ([], [])
