"""A message shown as sent is durable: it is drawn as "sending" until its input
checkpoint is on disk, it leaves the box only once kept in the outbox, and
one typed before the first thread is shown goes to that thread."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chat_app.config import Settings
from chat_app.service import ChatService
from chat_app.service.events import Event, ThreadInfo
from chat_app.ui.app import make_app
from chat_app.ui.areas.recovery import UNSENT_NOTICE
from chat_app.ui.widgets.message_box import MessageBox
from tests.conftest import chat
from tests.ui.conftest import make_settings, screen_text


class GatedService(ChatService):
    """The real service; the test decides when a send or the start-up listing
    may go on (standing in for an agent that is still loading)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.send_gate = threading.Event()
        self.list_gate = threading.Event()
        self.send_gate.set()
        self.list_gate.set()

    def send(self, thread_id: str, text: str, **kwargs: Any) -> Iterator[Event]:
        self.send_gate.wait(30)
        yield from super().send(thread_id, text, **kwargs)

    def list_threads(self, query: str = "", limit: int | None = None) -> list[ThreadInfo]:
        self.list_gate.wait(30)
        return super().list_threads(query, limit)


async def settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_a_message_is_drawn_as_sending_until_it_is_saved(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    svc = GatedService(settings)
    tid = svc.create_thread("a thread").id
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        svc.send_gate.clear()
        await pilot.click("#chat-input")
        await pilot.press(*"are you there", "enter")
        await pilot.pause()
        # Out of the box, kept on disk, drawn as not yet sent.
        assert app.query_one("#chat-input", MessageBox).value == ""
        assert svc.outbox.pending_count() == 1
        screen = screen_text(app)
        assert "you (sending…)" in screen and "are you there" in screen
        assert app.status.state == "sending…"
        svc.send_gate.set()
        await settle(pilot)
        screen = screen_text(app)
        assert "sending" not in screen
        assert "are you there" in screen
        assert svc.outbox.pending_count() == 0
        assert svc.load_messages(tid)[0].text == "are you there"
    svc.close()


async def test_a_message_sent_before_the_first_thread_shows_goes_to_that_thread(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data")
    earlier = ChatService(settings)
    tid = earlier.create_thread("the thread I left open").id
    chat(earlier, tid, "hello")
    earlier.close()

    svc = GatedService(settings)
    svc.list_gate.clear()
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.current_id is None  # still starting: "(no thread)"
        await pilot.click("#chat-input")
        await pilot.press(*"sent while starting", "enter")
        await pilot.pause()
        assert app.query_one("#chat-input", MessageBox).value == ""
        assert svc.outbox.pending_count() == 1
        svc.list_gate.set()
        await settle(pilot)
        await settle(pilot)
        # No new thread; the view stays on the thread it opened, which got it.
        assert [t.id for t in svc.list_threads()] == [tid]
        assert app.current_id == tid
        texts = [m.text for m in svc.load_messages(tid)]
        assert texts[2] == "sent while starting" and len(texts) == 4
        assert "sent while starting" in screen_text(app)
    svc.close()


def die_holding(data_dir: Path, thread_id: str, text: str) -> None:
    """Another app process keeps ``text`` in its outbox and is killed."""
    code = textwrap.dedent(
        """
        import os, sys, pathlib
        from tests.ui.conftest import make_settings
        from chat_app.service import ChatService
        svc = ChatService(make_settings(pathlib.Path(sys.argv[1])))
        svc.hold(sys.argv[2], sys.argv[3])
        os._exit(137)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_APP_")}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), thread_id, text],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 137, proc.stderr


async def test_a_message_not_saved_before_a_crash_is_back_in_the_box(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = make_settings(data)
    earlier = ChatService(settings)
    tid = earlier.create_thread("open thread").id
    earlier.close()
    die_holding(data, tid, "words I must not lose")

    svc = ChatService(settings)
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.current_id == tid
        assert app.query_one("#chat-input", MessageBox).value == "words I must not lose"
        assert any(n.message == UNSENT_NOTICE for n in app._notifications)
        # Sent now, it is in the thread once and no longer given back.
        await pilot.click("#chat-input")
        await pilot.press("enter")
        await settle(pilot)
        assert svc.load_messages(tid)[0].text == "words I must not lose"
        assert svc.unsent_messages(default_thread=tid) == []
    svc.close()


async def test_text_typed_while_starting_stays_in_the_box(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    earlier = ChatService(settings)
    tid = earlier.create_thread("left open").id
    earlier.close()
    svc = GatedService(settings)
    svc.list_gate.clear()
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.click("#chat-input")
        await pilot.press(*"half a thought")
        svc.list_gate.set()
        await settle(pilot)
        assert app.current_id == tid
        assert app.query_one("#chat-input", MessageBox).value == "half a thought"
    svc.close()


async def test_a_message_refused_by_an_unfinished_reply_stays_kept(tmp_path: Path) -> None:
    """Sent during start-up to a thread whose last reply did not finish: it is
    back in the box, and kept on disk as a draft (a crash now loses nothing)."""
    data = tmp_path / "data"
    settings = make_settings(data)
    earlier = ChatService(settings)
    tid = earlier.create_thread("interrupted").id
    chat(earlier, tid, "hello")
    earlier.close()
    die_mid_reply(data, tid)

    svc = GatedService(settings)
    svc.list_gate.clear()
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.click("#chat-input")
        await pilot.press(*"too early", "enter")
        svc.list_gate.set()
        await settle(pilot)
        assert app.current_id == tid
        assert app.query_one("#chat-input", MessageBox).value == "too early"
        assert svc.outbox.pending_count() == 0
    svc.close()
    again = ChatService(settings)
    assert [u.text for u in again.unsent_messages(default_thread=tid)] == ["too early"]
    again.close()


def die_mid_reply(data_dir: Path, thread_id: str) -> None:
    """Another app process is killed in the middle of a reply in ``thread_id``."""
    code = textwrap.dedent(
        """
        import os, sys, pathlib
        from tests.ui.conftest import make_settings
        from chat_app.service.events import Token
        from chat_app.service import ChatService
        svc = ChatService(make_settings(pathlib.Path(sys.argv[1])))
        for ev in svc.send(sys.argv[2], "tell me a long story"):
            if isinstance(ev, Token):
                os._exit(137)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_APP_")}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), thread_id],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 137, proc.stderr


async def test_a_message_sent_while_starting_follows_the_resumed_reply(tmp_path: Path) -> None:
    """With auto-resume, the interrupted reply is finished first, then the
    message sent during start-up goes to that thread."""
    from chat_app.config import load_settings

    data = tmp_path / "data"
    settings = load_settings(
        None,
        env={},
        overrides={
            "storage": {"data_dir": str(data)},
            "model": {"offline_token_delay_ms": 0},
            "user": {"id": "tester"},
            "recovery": {"auto_resume": True},
        },
        use_user_config=False,
    )
    earlier = ChatService(settings)
    tid = earlier.create_thread("interrupted").id
    earlier.close()
    die_mid_reply(data, tid)

    svc = GatedService(settings)
    svc.list_gate.clear()
    app = make_app(settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.click("#chat-input")
        await pilot.press(*"and another thing", "enter")
        svc.list_gate.set()
        for _ in range(5):
            await settle(pilot)
        msgs = svc.load_messages(tid)
        assert [(m.role, m.text) for m in msgs if m.role == "user"] == [
            ("user", "tell me a long story"),
            ("user", "and another thing"),
        ]
        assert [m.role for m in msgs] == ["user", "assistant", "user", "assistant"]
        assert app.query_one("#chat-input", MessageBox).value == ""
        assert "and another thing" in screen_text(app)
    svc.close()
