"""The tour a new user takes, in the real program under tmux, at three sizes.

Every step waits on what the captured screen shows (polling with a deadline)
and asserts what a person would see there: a streamed reply, a pasted block
sent as one message, a stopped reply kept, threads made, renamed and deleted,
a regenerated reply, an edited message, a copy, the History and Profile tabs,
the command palette, and a restart that brings the thread, the draft and the
panels back. At 80x24 the side panel, and at 60x20 the sidebar too, step
aside (the chat keeps 40 columns); F3 and F4 still bring the panel up.

Each test runs its own tmux server (``tmux -L``), so runs never collide.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.test_tmux import CHAT_APP, Tmux

pytestmark = pytest.mark.e2e

# Generous: a busy two-core machine may take seconds to draw a frame.
TIMEOUT_S = 45.0
SIZES = [(120, 36), (80, 24), (60, 20)]
# Slow enough that Esc lands while the long story streams, whatever the load.
TOKEN_DELAY_MS = 25
# Where the app moves the keyboard a frame after it draws, a person's pause
# before the next key (on top of waiting for what the screen shows).
PAUSE_S = 0.5
SCROLLBAR = "▁▂▃▄▅▆▇█"


class TourTmux(Tmux):
    """A tmux server of the test's own: ``-L socket`` on every command."""

    def __init__(self, socket: str, name: str) -> None:
        super().__init__(name)
        self.socket = socket

    def tmux(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check
        )

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys, check=True)

    def pane(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name).stdout

    def until(self, what: str, ok: Callable[[str], bool], timeout: float = TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pane = self.pane()
            if ok(pane):
                return pane
            time.sleep(0.1)
        raise AssertionError(f"{what}: not seen in {timeout:.0f} s; the pane shows:\n{self.pane()}")

    def wait_for(self, text: str, timeout: float = TIMEOUT_S) -> str:
        return self.until(repr(text), lambda pane: text in pane, timeout)

    def key_bar_shows(self, keys: str, shown: bool = True) -> None:
        """Wait for the keys of the widget with the keyboard to be (or not be)
        in the key bar. Below 80 columns the key bar has room for the app's
        keys only: there, a person's pause instead."""
        width = int(self.tmux("display", "-p", "-t", self.name, "#{window_width}").stdout)
        if width < 80:
            time.sleep(2 * PAUSE_S)
            return
        self.until(
            f"{keys!r} {'in' if shown else 'out of'} the key bar",
            lambda p: (keys in p.rstrip("\n").splitlines()[-1]) == shown,
        )

    def wait_gone(self, text: str, timeout: float = TIMEOUT_S) -> str:
        return self.until(f"{text!r} gone", lambda pane: text not in pane, timeout)

    def idle(self) -> str:
        """The status line says the reply is over (idle or stopped)."""
        return self.until(
            "idle status", lambda pane: bool(re.search(r"· (idle|stopped)\s*$", status(pane)))
        )

    def paste(self, text: str) -> None:
        """A bracketed paste, as a terminal sends one."""
        self.tmux("set-buffer", "-b", "tour", "--", text, check=True)
        self.tmux("paste-buffer", "-p", "-b", "tour", "-t", self.name, check=True)

    def newest_buffer(self) -> str:
        return self.tmux("show-buffer").stdout


def sidebar_widths(width: int) -> tuple[int, int]:
    """The sidebar's and the side panel's columns at a width (app.tcss)."""
    return (21, 29) if width < 100 else (25, 33) if width < 130 else (33, 45)


def status(pane: str) -> str:
    """The status line: the one above the key bar."""
    lines = pane.rstrip("\n").splitlines()
    return lines[-2] if len(lines) >= 2 else ""


def chat_lines(pane: str) -> list[str]:
    """Each screen line's part in the chat column (between the sidebar and the panel)."""
    out = []
    for line in pane.splitlines():
        if "▕" in line:
            line = line.split("▕", 1)[1]
        # Without the panel, the chat's scrollbar is the last column.
        out.append(line.split("▏", 1)[0].strip().rstrip(SCROLLBAR).strip())
    return out


def panel_lines(pane: str) -> list[str]:
    """Each screen line's part in the side panel (right of the chat), stripped."""
    return [line.split("▏", 1)[1].strip() for line in pane.splitlines() if "▏" in line]


def fact_value(pane: str, value: str) -> bool:
    """A Profile row shows ``value`` (wrapped or not) with its Edit and Forget
    buttons, not only a notice or the editor."""
    text = " ".join(panel_lines(pane))
    first, _, rest = value.partition(" ")
    shown = rf"(?<!Forgot ){re.escape(first)}\s+" + (
        rf"({re.escape(rest)}\s+Edit\s+Forget|Edit\s+Forget\s+{re.escape(rest)})"
        if rest
        else r"Edit\s+Forget"
    )
    return re.search(shown, text) is not None


def sidebar_shown(pane: str) -> bool:
    """The thread list's filter box is on screen (its placeholder may be cut)."""
    return re.search(r"^▊\s+Filter", pane, re.MULTILINE) is not None


def in_a_box(pane: str, text: str) -> bool:
    """``text`` alone in a text box (the message box or a dialog's field)."""
    return re.search(rf"▊\s+{re.escape(text)}\s+▎", pane) is not None


def chat(pane: str) -> str:
    return "\n".join(chat_lines(pane))


def last_fork(pane: str) -> tuple[str, str] | None:
    """(this branch, of how many) at the newest fork the History tab draws."""
    forks = re.findall(r"⑂ branch (\d+) of (\d+)", pane)
    return forks[-1] if forks else None


def title(pane: str) -> str:
    return pane.splitlines()[0] if pane else ""


def history_focused(t: TourTmux) -> None:
    """The History tab is up and has the keyboard (its keys in the key bar)."""
    t.wait_for("entries")
    t.key_bar_shows("Prev branch")


def send(t: TourTmux, text: str) -> None:
    t.type(text)
    t.keys("Enter")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[tuple[int, int]], tuple[TourTmux, str]]]:
    """Start the real program at a size in a tmux server of its own."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed (apt-get install -y tmux)")
        pytest.skip("tmux is not installed: apt-get install -y tmux to run this test")
    if not CHAT_APP.exists():
        pytest.skip(f"{CHAT_APP} not found: run pip install -e . first")
    started: list[TourTmux] = []

    def start(size: tuple[int, int]) -> tuple[TourTmux, str]:
        width, height = size
        t = TourTmux(f"chat-tour-{uuid.uuid4().hex[:10]}", "tour")
        started.append(t)
        env = {
            "CHAT_APP_DATA_DIR": str(tmp_path / "data"),
            "CHAT_APP_USER_ID": "tour",
            "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS),
            "TERM": "xterm-256color",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        # COLUMNS/LINES inherited from pytest would override the real pane size.
        command = shlex.join(
            ["env", "-u", "COLUMNS", "-u", "LINES", *(f"{k}={v}" for k, v in env.items()),
             str(CHAT_APP)]
        )  # fmt: skip
        t.tmux("-f", "/dev/null", "new-session", "-d", "-s", "tour", "-x", str(width), "-y",
               str(height), "-c", str(tmp_path), command, check=True)  # fmt: skip
        t.tmux("resize-window", "-t", "tour", "-x", str(width), "-y", str(height))
        # The app's OSC 52 copy becomes a paste buffer; the pane stays to be respawned.
        t.tmux("set", "-s", "set-clipboard", "on", check=True)
        t.tmux("set", "-w", "-t", "tour", "remain-on-exit", "on", check=True)
        t.wait_for("ctrl+j: new line")
        return t, command

    try:
        yield start
    finally:
        for t in started:
            t.tmux("kill-server")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tour(
    launch: Callable[[tuple[int, int]], tuple[TourTmux, str]], size: tuple[int, int]
) -> None:
    t, command = launch(size)
    width = int(t.tmux("display", "-p", "-t", "tour", "#{window_width}").stdout)
    wide = width >= 100  # the side panel fits beside the chat
    has_sidebar = width >= 80  # the thread list fits beside the chat
    t.wait_for("ctrl+j: new line")
    assert sidebar_shown(t.pane()) == has_sidebar
    assert ("History" in t.pane().splitlines()[1]) == wide

    # 1. A message, and its reply streaming in.
    send(t, "My name is Alice")
    pane = t.until("streaming", lambda p: "· streaming" in status(p))
    t.wait_for("I'll remember your name")
    t.idle()
    t.until("the thread's title", lambda p: "My name is Alice" in title(p))
    assert "Nice to meet you, Alice!" in chat(t.pane())

    # 2. Copy the last reply: the app writes OSC 52, tmux keeps it as a buffer.
    t.keys("C-y")
    t.wait_for("Copied the last reply")
    assert "Nice to meet you, Alice! I'll remember your name." in t.newest_buffer()

    # 3. Three pasted lines are one three-line message.
    t.paste("alpha line\nbeta line\ngamma line")
    t.wait_for("gamma line")
    assert "· streaming" not in status(t.pane())  # a paste's newlines do not send
    t.keys("Enter")
    t.wait_for("You said")
    pane = t.idle()
    lines = chat_lines(pane)
    at = lines.index("alpha line")
    assert lines[at - 1] == "you", "one message: the three lines under one 'you'"
    assert lines[at + 1 : at + 3] == ["beta line", "gamma line"]
    assert lines.count("alpha line") == 1

    # 4. Regenerate the last reply: it streams again, once in the chat.
    t.keys("C-g")
    t.until("regenerating", lambda p: "· streaming" in status(p))
    pane = t.idle()
    assert chat(pane).count("You said") == 1, pane
    assert chat_lines(pane).count("alpha line") == 1

    # 5. Edit the last message and send it again: the chat shows the new one only.
    send(t, "I like coffee")
    t.wait_for("you like coffee")
    t.idle()
    t.keys("Up")  # in the empty box: selects the last message
    t.key_bar_shows("Edit & resend")
    t.keys("e")
    t.wait_for("Edit and resend")
    t.until("the message in the editor", lambda p: in_a_box(p, "I like coffee"))
    t.keys("End", "C-u")
    t.until("the editor emptied", lambda p: re.search(r"█\s+▊\s+▎\s+█", p) is not None)
    t.type("I like green tea")
    t.until("the new text in the editor", lambda p: in_a_box(p, "I like green tea"))
    t.keys("Enter")
    t.wait_gone("Edit and resend")
    t.wait_for("you like green tea")
    pane = t.idle()
    assert "coffee" not in chat(pane), pane
    # The keyboard stays on the selected message: Esc goes back to the box.
    t.keys("Escape")
    t.key_bar_shows("Edit & resend", shown=False)

    # 6. Esc stops a long reply; the part written is kept, marked stopped.
    send(t, "Tell me a long story")
    t.wait_for("was typing the longest message")
    assert "· streaming" in status(t.pane())
    t.keys("Escape")
    pane = t.wait_for("(stopped)")
    pane = t.idle()
    assert "· stopped" in status(pane)
    assert "The end." not in pane
    assert "The message that would not be lost" in pane or "was typing" in pane
    time.sleep(1.0)  # nothing more streams in after the stop
    assert "The end." not in t.pane() and "· stopped" in status(t.pane())

    # 7. History: preview an entry, rewind, branches, back to latest.
    t.keys("F3")
    history_focused(t)
    t.keys("Up")  # the stopped reply's message
    t.wait_for("Preview of an earlier point")
    t.keys("Escape")  # leave the preview: the chat is the latest again
    t.wait_gone("Preview of an earlier point")
    t.keys("F3")
    history_focused(t)
    t.keys("Up")
    t.wait_for("Preview of an earlier point")
    t.keys("Enter")  # continue from just before "Tell me a long story"
    t.wait_for("Rewound")
    pane = t.wait_gone("(stopped)")
    assert "you like green tea" in pane
    t.keys("Escape")
    send(t, "What's my name?")
    t.wait_for("Your name is Alice")
    t.idle()
    # Regenerating and editing forked too: the newest fork is the last one drawn.
    t.keys("F3")
    history_focused(t)
    t.until("on the new branch", lambda p: last_fork(p) == ("2", "2"))
    t.keys("Left")
    t.until("on the other branch", lambda p: last_fork(p) == ("1", "2"))
    pane = t.wait_for("(stopped)")  # the other branch: the stopped story
    assert "Your name is Alice" not in chat(pane)
    t.keys("b")
    t.until("back on the latest branch", lambda p: last_fork(p) == ("2", "2"))
    pane = t.wait_for("Your name is Alice")
    assert "(stopped)" not in pane

    # 8. Profile: edit a fact, forget it, undo.
    t.keys("F4")
    t.wait_for("What I know")
    t.until("the facts", lambda p: "Alice" in " ".join(panel_lines(p)))
    time.sleep(PAUSE_S)  # a person's pause: the panel finishes loading its facts
    # F4 puts the keyboard on the first fact.
    t.keys("e")
    t.until("the fact's editor", lambda p: "Alice" in panel_lines(p))
    time.sleep(PAUSE_S)
    t.keys("End", "C-u")
    t.until("the editor emptied", lambda p: "A new value" in " ".join(panel_lines(p)))
    t.type("Alice Smith")
    t.until("the edit typed", lambda p: "Alice Smith" in panel_lines(p))
    t.keys("Enter")
    t.until("the fact edited", lambda p: fact_value(p, "Alice Smith"))
    t.keys("x")
    t.wait_for("Forgot Alice Smith")
    t.until("the fact gone", lambda p: not fact_value(p, "Alice Smith"))
    t.keys("u")
    t.until("the fact back", lambda p: fact_value(p, "Alice Smith"))

    # 9. New thread, rename it, delete it.
    t.keys("Escape")
    t.keys("C-n")
    pane = t.until("an empty new thread", lambda p: "Your name is Alice" not in p)
    t.keys("F2")
    t.wait_for("Rename thread")
    t.type("Scratch pad")
    t.until("the title typed", lambda p: in_a_box(p, "Scratch pad"))
    t.keys("Enter")
    t.until("renamed", lambda p: "Scratch pad" in title(p))
    t.keys("F8")
    t.wait_for("Delete the thread")
    t.keys("BTab", "Enter")  # Cancel has the focus: Delete is before it
    t.until(
        "deleted",
        lambda p: "(no thread)" in status(p) and "Scratch pad" not in "\n".join(p.splitlines()[1:]),
    )
    # Back to the first thread, the only one left.
    t.keys("C-t")
    t.until("the sidebar", sidebar_shown)
    t.key_bar_shows("Open")
    t.keys("Home", "Enter")
    # Asked for, the sidebar stays even where it squeezes the chat (60x20).
    t.until("reopened", lambda p: "My name is Alice" in title(p))
    t.until("its messages", lambda p: "(no thread)" not in status(p))
    t.keys("Escape")  # from the thread list to the message box
    t.key_bar_shows("Open", shown=False)

    # 10. The command palette runs a command: hide (or show) the sidebar.
    before = sidebar_shown(t.pane())
    t.keys("C-p")
    t.wait_for("Search for commands")
    t.type("Toggle sidebar")
    t.wait_for("Show or hide the thread list")
    t.keys("Enter")
    t.wait_gone("Search for commands")
    time.sleep(PAUSE_S)
    t.until("sidebar toggled", lambda p: sidebar_shown(p) != before)
    sidebar_after = not before

    # 11. Quit with a draft in the box and the Profile tab chosen; start again.
    t.keys("Escape")
    t.type("a thought to finish later")
    t.until("the draft typed", lambda p: in_a_box(p, "a thought to finish later"))
    t.keys("F4")
    t.wait_for("What I know")
    t.keys("C-q")
    t.until(
        "the app quit",
        lambda _: t.tmux("display", "-p", "-t", "tour", "#{pane_dead}").stdout.strip() == "1",
    )
    t.tmux("respawn-pane", "-t", "tour", command, check=True)
    pane = t.until("the thread back", lambda p: "My name is Alice" in title(p))
    pane = t.wait_for("a thought to finish later")
    pane = t.wait_for("Your name is Alice")
    # The sidebar as it was left, where it fits; the Profile tab, where the
    # panel fits beside what is shown.
    sidebar_now = sidebar_after and has_sidebar
    panel_fits = (
        width - (sidebar_widths(width)[0] if sidebar_now else 0) - sidebar_widths(width)[1] >= 40
    )
    pane = t.until(
        "the panels as left",
        lambda p: sidebar_shown(p) == sidebar_now and ("What I know" in p) == panel_fits,
    )
    if not panel_fits:
        # The panel stepped aside; asked for, it comes back on the tab left open.
        t.keys("C-o")
        t.wait_for("What I know")


# Where a person first tripped on the tour: each test below is what they expect.

Launch = Callable[[tuple[int, int]], tuple[TourTmux, str]]


def test_profile_keys_work_right_after_f4(launch: Launch) -> None:
    t, _ = launch((120, 36))
    send(t, "My name is Alice")
    t.wait_for("I'll remember your name")
    t.idle()
    t.keys("F4")
    t.until("the facts", lambda p: fact_value(p, "Alice"))
    time.sleep(PAUSE_S)
    t.keys("e")  # README: "in Profile: e ... edit a fact"
    t.until("the fact's editor", lambda p: "Alice" in panel_lines(p), timeout=10)


def test_editing_a_multi_line_message_stays_inside_its_dialog(launch: Launch) -> None:
    t, _ = launch((120, 36))
    t.paste("alpha line\nbeta line\ngamma line")
    t.wait_for("gamma line")
    t.keys("Enter")
    t.wait_for("You said")
    t.idle()
    t.keys("Up")
    t.key_bar_shows("Edit & resend")
    t.keys("e")
    t.wait_for("Edit and resend")
    t.until("the message in the editor", lambda p: re.search(r"█\s+▊\s+alpha line", p) is not None)
    time.sleep(PAUSE_S)
    pane = t.pane()
    # The whole message, each line inside the dialog's frame, as in the chat
    # (a one-line field showed the first line and wrote the rest raw, outside
    # the frame or nowhere, depending on what was drawn before).
    for text in ("beta line", "gamma line"):
        inside = [
            line
            for line in pane.splitlines()
            if text in line and "█" in line.split(text)[0] and "█" in line.split(text)[1]
        ]
        assert inside, pane


def test_deleting_the_open_thread_clears_the_title(launch: Launch) -> None:
    t, _ = launch((120, 36))
    send(t, "Remember the milk")
    t.until("the title", lambda p: "Remember the milk" in title(p))
    t.idle()
    t.keys("F8")
    t.wait_for("Delete the thread")
    t.keys("BTab", "Enter")
    t.until("deleted", lambda p: "(no thread)" in status(p))
    t.until("the title cleared", lambda p: "Remember the milk" not in p, timeout=10)


def test_typing_after_hiding_the_focused_sidebar_reaches_the_message_box(launch: Launch) -> None:
    t, _ = launch((120, 36))
    t.keys("C-t")
    t.key_bar_shows("Open")
    t.keys("C-b")
    t.until("the sidebar hidden", lambda p: not sidebar_shown(p))
    t.type("where does this go")
    t.until("typed in the box", lambda p: in_a_box(p, "where does this go"), timeout=10)


def test_the_status_line_keeps_the_state_at_60_columns(launch: Launch) -> None:
    t, _ = launch((60, 20))
    send(t, "My name is Alice and I like green tea")
    t.wait_for("you like green tea")
    t.until(
        "the state in the status line", lambda p: status(p).rstrip().endswith("idle"), timeout=10
    )


def test_history_buttons_fit_at_60_columns(launch: Launch) -> None:
    t, _ = launch((60, 20))
    send(t, "hello")
    t.wait_for("Type “help”")
    t.keys("F3")
    t.wait_for("Rewind")
    t.wait_for("Back to latest", timeout=10)
