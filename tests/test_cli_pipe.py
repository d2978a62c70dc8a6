"""`chat-app send ... | head -1`: the reader goes away, the turn still completes.

The reply is saved in full whatever happens to standard output; the exit
status says stdout was closed (141, as a shell reports SIGPIPE), with one line
on stderr and none of Python's "Exception ignored ... BrokenPipeError".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_damaged_storage import env_for as damage_env

CLI = [sys.executable, "-m", "chat_app"]
ASK = "give me a long answer with a list of ten items"


def env_for(data: Path) -> dict[str, str]:
    # Slow enough that head has gone long before the reply ends.
    return {**damage_env(data), "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": "3"}


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env_for(data), timeout=120
    )


def test_send_into_head_completes_the_turn(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sender = subprocess.Popen(
        [*CLI, "send", "--new", ASK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for(data),
    )
    head = subprocess.Popen(["head", "-1"], stdin=sender.stdout, stdout=subprocess.PIPE)
    assert sender.stdout is not None
    sender.stdout.close()  # head alone holds the pipe's read end
    first, _ = head.communicate(timeout=120)
    err = sender.communicate(timeout=120)[1].decode()
    # To a pipe the reply is written once, when it is complete: the reader may
    # take it all before leaving (0), or leave first (141, said on stderr).
    assert sender.returncode in (0, 141), err
    thread_id, *notes = err.strip().splitlines()
    if sender.returncode == 141:
        assert notes[0].startswith("chat-app: standard output was closed"), err
    else:
        assert notes == [], err
    assert "Exception ignored" not in err and "Traceback" not in err
    # Saved in full: the same reply as the one printed without a pipe.
    reference = run(tmp_path / "reference", "send", "--new", ASK)
    assert reference.returncode == 0, reference.stderr
    full_reply = reference.stdout.rstrip("\n")
    assert len(full_reply.splitlines()) > 1 and first.decode() == full_reply.splitlines()[0] + "\n"
    shown = run(data, "show", thread_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"you: {ASK}\nassistant: {full_reply}\n"
    threads = run(data, "threads")
    assert "[interrupted]" not in threads.stdout and "2 msgs" in threads.stdout
