"""The reply being written: drawn like a finished reply, block by block."""

from __future__ import annotations

from chat_app.service.events import ChatMessage
from chat_app.ui.markdown_text import markdown_blocks
from chat_app.ui.widgets.message_lines import MessageLines
from tests.ui.test_chat import opened

REPLY = (
    "Here is a plan.\n\n"
    "- first step\n- second step\n\n"
    "```python\ndef f():\n\n    return 1\n```\n\n"
    "~~~\nraw\n\ntext\n~~~\n\n"
    "That is all."
)


def test_blocks_split_at_blank_lines_outside_code_fences() -> None:
    assert markdown_blocks(REPLY) == [
        "Here is a plan.",
        "- first step\n- second step",
        "```python\ndef f():\n\n    return 1\n```",
        "~~~\nraw\n\ntext\n~~~",
        "That is all.",
    ]
    # An open fence keeps everything after it in the block being written.
    assert markdown_blocks("One.\n\n```\ncode\n\nmore") == ["One.", "```\ncode\n\nmore"]
    assert markdown_blocks("Done.\n\n") == ["Done.", ""]
    assert markdown_blocks("") == [""]


def texts(lines: MessageLines, start: int, end: int) -> list[str]:
    return [lines.render_line(y).text.rstrip() for y in range(start, end)]


async def test_a_reply_looks_the_same_while_written_and_when_finished(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot)
        lines = app.chat.lines
        await app.chat.start_reply()
        # Written in small batches, as tokens arrive.
        for i in range(0, len(REPLY), 7):
            await app.chat.write_tokens(REPLY[i : i + 7])
        await pilot.pause()
        assert app.chat.reply_text == REPLY
        live = texts(lines, 0, lines.line_count)
        assert live[0] == " assistant"
        assert any("def f():" in t for t in live) and any("That is all." in t for t in live)

        await app.chat.finish_reply(ChatMessage(id="r1", role="assistant", text=REPLY))
        await pilot.pause()
        assert lines.live_text is None
        assert texts(lines, 0, lines.line_count) == live


async def test_only_the_block_being_written_is_drawn_again(app_factory, monkeypatch) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot)
        lines = app.chat.lines
        drawn: list[str] = []
        real = lines._render_live_block

        def counting(text: str, first: bool) -> list:
            drawn.append(text)
            return real(text, first)

        monkeypatch.setattr(lines, "_render_live_block", counting)
        await app.chat.start_reply()
        paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(20)]
        batches = 0
        for p in paragraphs:
            for chunk in (p[:60], p[60:] + "\n\n"):
                await app.chat.write_tokens(chunk)
                batches += 1
        # Each batch draws the block being written; each finished block is drawn
        # once more when it is done, never again after.
        assert len(drawn) <= batches + len(paragraphs) + 1
        for p in paragraphs:
            assert drawn.count(p.rstrip()) <= 2
