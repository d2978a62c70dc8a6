"""A retried reply is shown once: what the failed attempt streamed is
replaced, and the countdown says why it retries. An interrupted thread lists
its real message count and its History shows the message."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from chat_app.service import ChatService
from chat_app.service.events import Retrying
from chat_app.ui.app import make_app
from tests.conftest import make_settings
from tests.fake_openai import FakeOpenAI
from tests.ui.conftest import screen_text

KEY = "sk-test-" + "q" * 32
TEXT = "alpha beta gamma delta epsilon zeta"


def openai_service(fake: FakeOpenAI, data: Path, **model: object) -> ChatService:
    options: dict[str, object] = {
        "name": "openai:fake-model",
        "base_url": fake.base_url,
        "max_attempts": 3,
        "connect_timeout_s": 1.0,
        "read_timeout_s": 2.0,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        **model,
    }
    settings = make_settings(data, model=options, user={"id": "tester"})
    return ChatService(dataclasses.replace(settings, api_key=KEY))


async def test_a_retried_reply_replaces_what_the_failed_attempt_showed(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.drop_after(3)
    svc = openai_service(fake, tmp_path / "data")
    app = make_app(svc.settings, svc, poll_interval_s=3600, warm_up_delay_s=0)
    seen_at_retry: list[str] = []
    shown_states: list[str] = []
    original = app._on_event

    async def watching(event: object) -> None:
        await original(event)  # type: ignore[arg-type]
        if isinstance(event, Retrying):
            seen_at_retry.append(app.chat.reply_text)
            shown_states.append(app.status.state)

    app._on_event = watching  # type: ignore[method-assign]
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.click("#chat-input")
        await pilot.press(*TEXT, "enter")
        for _ in range(4):
            await app.workers.wait_for_complete()
            await pilot.pause()
        # The partial "Echo: alpha beta" was on screen, then cleared for the retry.
        assert seen_at_retry == [""]
        assert shown_states[0].startswith("retrying 2/3 in ")
        assert "interrupted" in shown_states[0]
        [thread] = svc.list_threads()
        reply = svc.load_messages(thread.id)[-1].text
        assert reply == f"Echo: {TEXT}"
        screen = screen_text(app)
        # Once in the chat; the History tab shows its highlighted entry in full too.
        detail = str(app.query_one("#history-detail").render())
        assert screen.count("Echo: alpha") - detail.count("Echo: alpha") == 1
    svc.close()


def test_an_interrupted_thread_lists_its_message_and_history(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.status(500, times=None)
    svc = openai_service(fake, tmp_path / "data")
    tid = svc.create_thread().id
    events = list(svc.send(tid, "are you there?"))
    assert events[-1].__class__.__name__ == "ReplyFailed"
    info = svc.get_thread(tid)
    assert info.interrupted and info.message_count == 1
    history = svc.history(tid)
    assert [c.summary for c in history.checkpoints if c.kind] == ["you: are you there?"]
    svc.close()
