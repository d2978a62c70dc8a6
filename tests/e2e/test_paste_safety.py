"""A copied reply pasted into a shell runs nothing (the real program, tmux, bash).

A reply whose code block holds ``touch FILE``, ``ESC[201~`` and a newline
ends a terminal's bracketed paste early: pasted raw into bash, the command
runs without Enter. tmux with ``set-clipboard on`` keeps the app's OSC 52
write as a paste buffer and ``paste-buffer -p`` pastes it bracketed, as a
terminal would. The control pastes the raw block the same way and must run
it, so this test can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from chat_app.config import load_settings
from chat_app.service import ChatService
from tests.e2e.test_tmux import CHAT_APP, TIMEOUT_S, Tmux

pytestmark = pytest.mark.e2e


def block(marker: Path) -> str:
    """The code block as the app's code-block copy takes it."""
    return f"touch {marker}\x1b[201~\necho pasted"


def eventually(check: object, timeout: float = TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.1)
    return False


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def markers() -> Iterator[tuple[Path, Path]]:
    tag = uuid.uuid4().hex[:10]
    pair = (Path(f"/tmp/chat-paste-{tag}-app"), Path(f"/tmp/chat-paste-{tag}-raw"))
    yield pair
    for p in pair:
        p.unlink(missing_ok=True)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tmux server of this test's own (set-clipboard is a server option)."""
    if shutil.which("tmux") is None or shutil.which("bash") is None:
        pytest.skip("tmux and bash are needed: apt-get install -y tmux")
    if not CHAT_APP.exists():
        pytest.skip(f"{CHAT_APP} not found: run pip install -e . first")
    sockets = Path(tempfile.mkdtemp(prefix="tmx", dir="/tmp"))
    monkeypatch.setenv("TMUX_TMPDIR", str(sockets))
    monkeypatch.delenv("TMUX", raising=False)
    try:
        yield tmp_path / "data"
    finally:
        tmux("kill-server")
        shutil.rmtree(sockets, ignore_errors=True)


def test_a_copied_code_block_pasted_into_bash_runs_nothing(
    server: Path, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    data_dir = server
    app_marker, raw_marker = markers
    settings = load_settings(
        None,
        env={},
        overrides={"storage": {"data_dir": str(data_dir)}, "user": {"id": "e2e"}},
        use_user_config=False,
    )
    svc = ChatService(settings)
    tid = svc.create_thread("paste me").id
    reply = f"Run this:\n\n```sh\n{block(app_marker)}\n```\n"
    msgs = [HumanMessage(content="a command?", id="h1"), AIMessage(content=reply, id="a1")]
    svc.graph.update_state(
        {"configurable": {"thread_id": tid}}, {"messages": msgs}, as_node="remember"
    )
    svc.index.set_count(tid, 2)
    svc.close()

    app_cmd = (
        f"env -u COLUMNS -u LINES CHAT_APP_DATA_DIR={data_dir} CHAT_APP_USER_ID=e2e "
        f"TERM=xterm-256color XDG_CONFIG_HOME={tmp_path / 'config'} {CHAT_APP}"
    )
    assert (
        tmux("new-session", "-d", "-s", "paste", "-x", "120", "-y", "35", app_cmd).returncode == 0
    )
    assert tmux("set", "-s", "set-clipboard", "on").returncode == 0
    shell_cmd = (
        f"env -i HOME={tmp_path} TERM=xterm-256color LANG=C.UTF-8 PATH=/usr/bin:/bin"
        " PS1='$ ' bash --norc --noprofile"
    )
    assert tmux("new-window", "-d", "-t", "paste", "-n", "sh", shell_cmd).returncode == 0
    app, shell = Tmux("paste:0"), Tmux("paste:sh")
    shell.type("bind 'set enable-bracketed-paste on'; echo READY-$((20+22))")
    shell.keys("Enter")
    shell.wait_for("READY-42")

    # The app's copy of the code block (F6) becomes tmux's newest paste buffer.
    app.wait_for("echo pasted")
    app.keys("F6")
    assert eventually(lambda: "touch" in tmux("show-buffer").stdout), tmux("list-buffers").stdout
    copied = tmux("show-buffer").stdout
    assert "\x1b" not in copied and f"touch {app_marker}" in copied

    def paste_then_sync(buffer: list[str], tag: str) -> None:
        assert tmux("paste-buffer", "-p", *buffer, "-t", "paste:sh").returncode == 0
        shell.wait_for("echo pasted")
        # Drop whatever is left on the line; bash then runs the next command
        # only after anything the paste ran.
        shell.keys("C-c")
        shell.type(f"clear; echo {tag}-$((40+2))")
        shell.keys("Enter")
        shell.wait_for(f"{tag}-42")

    paste_then_sync([], "SYNC")
    assert not app_marker.exists(), "the app's copy ran a command when pasted"

    # Control: the raw block, pasted the same way, does run the command.
    assert tmux("set-buffer", "-b", "raw", "--", block(raw_marker)).returncode == 0
    paste_then_sync(["-b", "raw"], "AGAIN")
    assert eventually(raw_marker.exists, 5.0), "the raw paste should have run touch"
