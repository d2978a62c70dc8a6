"""The thread list and History show where the cursor is and which thread is open,
in every built-in theme, light and dark."""

from __future__ import annotations

from rich.style import Style
from textual.widget import Widget
from textual.widgets import OptionList

from chat_app.ui.widgets.thread_sidebar import ThreadList
from tests.ui.test_chat import opened


def title_style(rows: ThreadList, index: int, title: str) -> Style:
    """The style the title of row ``index`` is drawn in (the list scrolled to the top)."""
    strip = rows.render_line(index - rows.scroll_offset.y)
    for segment in strip:
        if title in segment.text:
            assert segment.style is not None
            return segment.style
    raise AssertionError(f"{title!r} not on row {index}: {strip.text!r}")


def look(style: Style) -> tuple[object, ...]:
    return (style.color, style.bgcolor, style.bold, style.reverse)


def readable(style: Style) -> bool:
    # The terminal's own default pair (ANSI themes) is readable by definition.
    default = style.color is not None and style.color.is_default
    return style.color != style.bgcolor or default or bool(style.reverse)


async def test_cursor_and_open_thread_are_visible_in_every_theme(app_factory, service):
    for title in ("third", "second", "first"):
        service.create_thread(title)
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot)
        rows = app.query_one("#thread-list", ThreadList)
        titles = [t.title for t in rows.threads]
        opened_at = rows.index_of(app.current_id)
        assert opened_at is not None
        others = [i for i in range(len(titles)) if i != opened_at]
        cursor, plain = others
        rows.focus()
        rows.highlighted = cursor
        await pilot.pause()
        for theme in app.available_themes:
            app.theme = theme
            for focused in (True, False):
                (rows if focused else app.chat_input).focus()
                await pilot.pause()
                at_cursor = title_style(rows, cursor, titles[cursor])
                at_open = title_style(rows, opened_at, titles[opened_at])
                at_plain = title_style(rows, plain, titles[plain])
                where = f"{theme}, {'focused' if focused else 'not focused'}"
                assert look(at_cursor) != look(at_plain), where
                assert look(at_cursor) != look(at_open), where
                assert look(at_open) != look(at_plain), where
                for style in (at_cursor, at_open, at_plain):
                    assert readable(style), where
                assert rows.render_line(opened_at).text.startswith("▌"), where


def row_style(widget: Widget, y: int) -> Style:
    """The style of the first visible character of line ``y``."""
    for segment in widget.render_line(y):
        if segment.text.strip():
            assert segment.style is not None
            return segment.style
    raise AssertionError(f"line {y} is blank")


async def test_history_cursor_is_visible_in_every_theme(app_factory, service):
    tid = service.create_thread("talk").id
    for text in ("one", "two"):
        list(service.send(tid, text))
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("f3")
        await opened(pilot)
        timeline = app.query_one("#history-timeline", OptionList)
        assert timeline.option_count >= 3
        timeline.highlighted = 1
        await opened(pilot)
        for theme in app.available_themes:
            app.theme = theme
            for focused in (True, False):
                (timeline if focused else app.chat_input).focus()
                await pilot.pause()
                where = f"{theme}, {'focused' if focused else 'not focused'}"
                at_cursor = row_style(timeline, 1)
                for other in (0, 2):
                    assert look(at_cursor) != look(row_style(timeline, other)), where
                assert readable(at_cursor), where
