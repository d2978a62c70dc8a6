"""Sending, streaming, stopping, regenerating, editing and copying, as a person would."""

from __future__ import annotations

from pathlib import Path

from chat_app.service import ChatService
from chat_app.ui.app import make_app
from chat_app.ui.screens.text_prompt import TextPromptScreen
from tests.ui.conftest import make_settings, screen_text


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def opened(pilot) -> None:
    """The start-up chain (threads, the open thread if any, the agent) is done."""
    app = pilot.app
    for _ in range(100):
        await settle(pilot)
        if not any(w.is_running for w in app.workers):
            return
    raise AssertionError("the app did not finish starting")


async def send(pilot, text: str) -> None:
    await pilot.click("#chat-input")
    await pilot.press(*text)
    await pilot.press("enter")
    await settle(pilot)


async def start_long_reply(pilot) -> None:
    """Ask for a long reply and wait until some of it has streamed in."""
    await pilot.click("#chat-input")
    await pilot.press(*"tell me a long story please")
    await pilot.press("enter")
    for _ in range(200):
        await pilot.pause(0.02)
        if len(pilot.app.chat.reply_text) > 3:
            break


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:30]


async def test_send_shows_message_and_streamed_reply(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "hello there")
        threads = service.list_threads()
        assert len(threads) == 1
        msgs = service.load_messages(threads[0].id)
        assert [m.role for m in msgs] == ["user", "assistant"]
        text = screen_text(app)
        assert "hello there" in text
        assert first_line(msgs[1].text) in text
        assert app.status.state == "idle"
        assert app.chat_input.value == ""


async def test_empty_input_sends_nothing(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "   ")
        assert service.list_threads() == []


async def test_escape_stops_the_reply_and_keeps_it(tmp_path: Path):
    settings = make_settings(tmp_path, offline_token_delay_ms=40)
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await start_long_reply(pilot)
            assert app.status.state == "streaming"
            await pilot.press("escape")
            await settle(pilot)
            tid = service.list_threads()[0].id
            last = service.load_messages(tid)[-1]
            assert last.role == "assistant" and last.status == "stopped"
            # The header "assistant (stopped)" may be above the viewport for a long reply.
            shown = app.chat.lines.messages[-1]
            assert shown.role == "assistant" and shown.status == "stopped"
            assert app.status.state in ("stopped", "idle")
    finally:
        service.close()


async def test_regenerate_forks_and_adds_a_reply(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "first question")
        tid = service.list_threads()[0].id
        await pilot.press("ctrl+g")
        await settle(pilot)
        msgs = service.load_messages(tid)
        assert [m.role for m in msgs] == ["user", "assistant"]
        history = service.history(tid)
        leaves = set(c.id for c in history.checkpoints) - set(history.children())
        assert len(leaves) == 2


async def test_edit_and_resend_forks(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "first message")
        await send(pilot, "second message")
        tid = service.list_threads()[0].id
        # Select the first user message in the chat and edit it.
        app.chat.lines.focus()
        await pilot.pause()
        for _ in range(4):
            await pilot.press("up")
        assert app.chat.lines.selected_message.text == "first message"
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, TextPromptScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"edited message", "enter")
        await settle(pilot)
        msgs = service.load_messages(tid)
        assert [m.text for m in msgs if m.role == "user"] == ["edited message"]
        assert "edited message" in screen_text(app)
        history = service.history(tid)
        leaves = set(c.id for c in history.checkpoints) - set(history.children())
        assert len(leaves) == 2


async def test_copy_last_reply_and_code_block(app_factory, service, monkeypatch):
    copied: list[str] = []
    app = app_factory()
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "hi")
        await pilot.press("ctrl+y")
        tid = service.list_threads()[0].id
        assert copied == [service.load_messages(tid)[-1].text]
        # A message with a code block: the block alone is copied.
        app.chat.lines.append(
            app.chat.lines.messages[-1].__class__(
                id="x", role="assistant", text="see:\n```python\nprint(1)\n```\n"
            )
        )
        await pilot.press("f6")
        assert copied[-1] == "print(1)"


async def test_service_error_notifies_and_keeps_text(app_factory, service, monkeypatch):
    app = app_factory()

    def broken(*args, **kwargs):
        from chat_app.service import ServiceError

        raise ServiceError("the database is on fire")

    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await send(pilot, "hello")
        monkeypatch.setattr(service, "send", broken)
        await send(pilot, "kept text")
        assert app.chat_input.value == "kept text"
        assert any("on fire" in n.message for n in app._notifications)
        assert app.is_running


async def test_editing_a_message_of_several_lines_keeps_its_lines(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.chat_input.value = "alpha line\nbeta line"
        await pilot.press("enter")
        await settle(pilot)
        tid = service.list_threads()[0].id
        app.chat.lines.focus()
        await pilot.press("up", "up")
        assert app.chat.lines.selected_message.text == "alpha line\nbeta line"
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, TextPromptScreen)
        # The whole message is in the editor; a new line is added with ctrl+j.
        assert "beta line" in screen_text(app)
        await pilot.press("ctrl+end", "ctrl+j", *"gamma line", "enter")
        await settle(pilot)
        users = [m.text for m in service.load_messages(tid) if m.role == "user"]
        assert users == ["alpha line\nbeta line\ngamma line"]


async def test_an_empty_chat_says_how_to_start(app_factory, service):
    from chat_app.ui.widgets.chat_view import EMPTY_HINT

    first_line = EMPTY_HINT.split("\n")[0]
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert first_line in screen_text(app)  # first start: no thread yet
        await send(pilot, "hello")
        assert first_line not in screen_text(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert first_line in screen_text(app)  # a new, empty thread
