"""Untrusted text is shown literally and does nothing; bad input never crashes."""

from __future__ import annotations

from chat_app.safe_text import to_terminal
from chat_app.ui import input_guard
from graphs.profile import ProfileFact
from tests.ui.conftest import screen_text
from tests.ui.test_chat import send, settle

PAYLOADS = [
    "[bold]x[/bold]",
    "[@click=app.quit]x[/]",
    "[link=https://evil]x[/link]",
    "\x1b]52;c;SGVsbG8=\x07",
    "\x1b[2J",
    "[/",
]


async def test_markup_payloads_in_messages_and_titles_are_literal(app_factory, service):
    info = service.create_thread(PAYLOADS[1])
    text = " ".join(PAYLOADS)
    list(service.send(info.id, text))
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        shown = screen_text(app)
        assert "[bold]x[/bold]" in shown
        assert "[@click=app.quit]x[/]" in shown
        assert "[@click=app.quit]x[/]" in shown
        assert "[link=https://evil]x[/link]" in shown
        # Escape characters are made visible, never sent to the terminal.
        assert "␛]52;c;SGVsbG8=␇" in shown
        assert "␛[2J" in shown
        assert "\x1b" not in shown
        # Clicking where the fake action is does nothing: the app keeps running.
        await pilot.click("#message-lines")
        await send(pilot, "[@click=app.quit]again[/]")
        assert app.is_running
        assert "[@click=app.quit]again[/]" in screen_text(app)


async def test_markup_payloads_in_facts_are_literal(app_factory, service):
    app = app_factory()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        app._set_facts(
            [
                ProfileFact(key="name", kind="name", value="[bold]x[/bold] \x1b[2J"),
                ProfileFact(key="likes", kind="preference", value="[@click=app.quit]x[/]"),
            ]
        )
        await pilot.press("f4")
        await settle(pilot)
        shown = screen_text(app)
        assert "[bold]x[/bold]" in shown
        assert "[@click=app.quit]x[/]" in shown
        assert "\x1b" not in shown
        assert app.is_running


async def test_links_in_a_streaming_reply_show_their_target_and_never_open(
    app_factory, monkeypatch
):
    opened: list[str] = []
    app = app_factory()
    monkeypatch.setattr(app, "open_url", lambda url, **kw: opened.append(url))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.chat.write_tokens("See [the docs](javascript:alert(1)) and ")
        await app.chat.write_tokens("[a site](https://example.com/real).\n\nMore ")
        await pilot.pause()
        shown = screen_text(app)
        # The real targets are on screen, as text.
        assert "javascript:alert(1)" in shown and "https://example.com/real" in shown
        lines = app.chat.lines
        for y in range(lines.line_count):
            for seg in lines.render_line(y):
                assert seg.style is None or (seg.style.link is None and not seg.style.meta)
        await pilot.click("#message-lines", offset=(10, 1))
        await pilot.pause()
        assert opened == []


def test_invalid_utf8_from_keyboard_is_replaced():
    from textual.drivers import linux_driver

    assert input_guard.install()
    decode = linux_driver.getincrementaldecoder("utf-8")().decode
    assert decode(b"ab\xffc\xc3") == "ab\ufffdc"
    assert decode(b"\xa9", final=True) == "é"


# A reply whose code block would end a bracketed paste and run `touch` when
# pasted into a shell, with OSC 52, BEL, 8-bit CSI and a lone CR besides.
PASTE_ESCAPE = "run:\n```sh\ntouch /tmp/x\x1b[201~\necho \x1b]52;c;SGk=\x07\x9b2J\rdone\n```\n"


async def test_copied_text_carries_no_control_characters(app_factory, service):
    import base64
    import re

    from langchain_core.messages import AIMessage, HumanMessage

    tid = service.create_thread("copy").id
    msgs = [HumanMessage(content="q", id="h1"), AIMessage(content=PASTE_ESCAPE, id="a1")]
    service.graph.update_state(
        {"configurable": {"thread_id": tid}}, {"messages": msgs}, as_node="remember"
    )
    service.index.set_count(tid, 2)
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        written: list[str] = []
        driver_write = app._driver.write
        app._driver.write = lambda data: (written.append(data), driver_write(data))[1]
        copies = []
        for keys in (["ctrl+y"], ["f6"]):
            await pilot.press(*keys)
            await pilot.pause()
            copies.append(app.clipboard)
        # From the chat, with the reply selected: c copies it, y its code block.
        app.chat.lines.focus()
        await pilot.press("up")
        for key in ("c", "y"):
            await pilot.press(key)
            await pilot.pause()
            copies.append(app.clipboard)
        sent = [
            base64.b64decode(m).decode()
            for m in re.findall(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", "".join(written))
        ]
    assert copies[0] == copies[2] == to_terminal(PASTE_ESCAPE)
    assert copies[1] == copies[3] == "touch /tmp/x␛[201~\necho ␛]52;c;SGk=␇\ufffd2J\ndone"
    assert sent == copies
    for text in sent:
        assert re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text) is None
