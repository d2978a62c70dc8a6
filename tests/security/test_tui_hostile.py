"""Hostile text in the real TUI: shown literally, never executed, never sent raw to the terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from chat_app.config import Settings, load_settings
from chat_app.service import ChatService
from graphs.profile import ProfileFact
from tests.security.conftest import ESCAPES, MARKUP, REPO, cli_env

ALL_ESCAPES = " ".join(ESCAPES.values())


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        None,
        env={},
        overrides={
            "storage": {"data_dir": str(data_dir)},
            "model": {"offline_token_delay_ms": 0},
            "user": {"id": "tester"},
        },
        use_user_config=False,
    )


def fill(service: ChatService) -> str:
    """A thread whose title, messages and reply carry every payload."""
    tid = service.create_thread(MARKUP[0] + " " + ESCAPES["osc0"]).id
    msgs = [
        HumanMessage(content="\n".join(MARKUP), id="h1"),
        AIMessage(content="reply " + ALL_ESCAPES + "\n" + "\n".join(MARKUP), id="a1"),
    ]
    service.graph.update_state(
        {"configurable": {"thread_id": tid}}, {"messages": msgs}, as_node="remember"
    )
    service.index.set_count(tid, 2)
    return tid


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    from textual.strip import Strip

    update = app.screen._compositor.render_full_update()
    return "\n".join(Strip.join(list(chops)).text for chops in update.strips)


def click_metas_on_payload(app) -> list[str]:  # type: ignore[no-untyped-def]
    """``@click`` actions attached to text that came from a message."""
    update = app.screen._compositor.render_full_update()
    bad = []
    for chops in update.strips:
        for strip in chops:
            for seg in strip:
                meta = seg.style.meta if seg.style else {}
                if "@click" in meta and ("click me" in seg.text or "app.quit" in seg.text):
                    bad.append(seg.text)
    return bad


async def test_payloads_shown_literally_in_the_app(tmp_path: Path) -> None:
    pytest.importorskip("chat_app.ui.app")
    from chat_app.ui.app import make_app

    settings = _settings(tmp_path / "data")
    service = ChatService(settings)
    try:
        fill(service)
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(160, 60)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            app._set_facts(  # type: ignore[attr-defined]
                [ProfileFact(key="name", kind="name", value=MARKUP[0] + ESCAPES["osc52"])]
            )
            await pilot.pause()
            shown = screen_text(app)
            for payload in MARKUP[:4]:
                assert payload in shown, payload
            assert "\x1b" not in shown and "\x9b" not in shown
            assert "␛]52;c;SGVsbG8=␇" in shown
            assert click_metas_on_payload(app) == []
            await pilot.click("#message-lines")
            await pilot.press("f4")
            await pilot.pause()
            assert "\x1b" not in screen_text(app)
            assert app.is_running
    finally:
        service.close()


# -- the real program in a real pseudo-terminal (T19, T21) ---------------------

SIGNATURES = {
    "osc52": b"\x1b]52;",
    "osc0": b"\x1b]0;pwned",
    "osc2": b"\x1b]2;pwned",
    "osc8": b"\x1b]8;;https://evil",
    "dcs": b"\x1bP1$q",
    "apc": b"\x1b_G",
    "c1_csi": b"\xc2\x9b",
    "c1_osc": b"\xc2\x9d",
    "bare_esc": b"a\x1bb",
}


def _spawn(data_dir: Path) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # child
        env = cli_env(data_dir, TERM="xterm-256color", CHAT_APP_USER="tester")
        env.pop("TEXTUAL", None)
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "chat_app"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    return pid, fd


def _read_for(fd: int, seconds: float, buf: bytearray) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk


def _wait_exit(pid: int, fd: int, buf: bytearray, timeout: float) -> int | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _read_for(fd, 0.2, buf)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.timeout(60)
def test_pty_no_escape_sequence_from_a_message_reaches_the_terminal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    service = ChatService(_settings(data_dir))
    fill(service)
    service.close()
    pid, fd = _spawn(data_dir)
    out = bytearray()
    try:
        _read_for(fd, 6.0, out)
        # T21: invalid UTF-8 typed at the keyboard.
        os.write(fd, b"ab\xff\xfecd")
        _read_for(fd, 1.5, out)
        os.write(fd, b"\x11")  # ctrl+q
        code = _wait_exit(pid, fd, out, 15)
    finally:
        os.close(fd)
    text = bytes(out)
    assert code == 0, (code, text[-2000:])
    assert b"Traceback" not in text and b"UnicodeDecodeError" not in text
    # The payloads were drawn (as visible symbols) ...
    assert "␛]52;c;SGVsbG8=␇".encode() in text or b"SGVsbG8=" in text
    # ... and none got through as a live sequence.
    found = [name for name, sig in SIGNATURES.items() if sig in text]
    assert found == []
    assert "ab\ufffd\ufffdcd".encode() in text or b"abcd" in text or b"cd" in text
