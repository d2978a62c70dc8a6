"""Untrusted text is shown literally and does nothing; bad input never crashes."""

from __future__ import annotations

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
