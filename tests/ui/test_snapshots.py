"""Snapshots of the main screen, the History tab with a branch, and the Profile tab.

The data is made under a fake clock (checkpoint ids and the threads table take
their times from it) and the app gets a fixed clock and UTC for the History
times, so the pictures do not change from run to run.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import pytest

from chat_app.core.service import ChatService
from chat_app.ui.app import ChatApp, make_app
from graphs.profile import ProfileFact
from tests.ui.conftest import make_settings

EPOCH = 1_767_268_800.0  # 2026-01-01 12:00 UTC
# The main screens at each size in both themes. The first pictures (dark, at
# 100x30 and 80x24) keep their names; the others name their theme.
DEFAULT_THEME = "textual-dark"
SCREENS = [
    *(((w, h), DEFAULT_THEME) for w, h in [(100, 30), (80, 24)]),
    ((120, 36), DEFAULT_THEME),
    ((60, 20), DEFAULT_THEME),
    *(((w, h), "textual-light") for w, h in [(120, 36), (80, 24), (60, 20)]),
]


def screen_id(case: tuple[tuple[int, int], str]) -> str:
    (width, height), theme = case
    first = theme == DEFAULT_THEME and (width, height) in [(100, 30), (80, 24)]
    return f"{width}x{height}" if first else f"{width}x{height}-{theme}"


async def _use_theme(pilot, theme: str) -> None:
    if pilot.app.theme != theme:
        pilot.app.theme = theme


FACTS = [
    ProfileFact(
        "name",
        "name",
        "Alice",
        "t-1",
        "m-1",
        "c-1",
        "2026-01-01T12:00:05+00:00",
        "My name is Alice",
    ),
    ProfileFact(
        "likes:green tea",
        "preference",
        "green tea",
        "t-1",
        "m-1",
        "c-1",
        "2026-01-01T12:00:05+00:00",
        "I like green tea",
    ),
    ProfileFact(
        "city",
        "fact",
        "Lisbon",
        "t-2",
        "m-2",
        "c-2",
        "2026-01-01T12:03:00+00:00",
        "I live in Lisbon",
    ),
]


@contextmanager
def fake_clock() -> Iterator[None]:
    ticks = itertools.count()
    real_time, real_time_ns = time.time, time.time_ns

    def fake_ns() -> int:
        return int((EPOCH + next(ticks) * 1.0) * 1e9)

    # uuid6 keeps ids monotonic with a module global: ids made earlier in this
    # process (at the real, later time) would otherwise win over the fake clock.
    from langgraph.checkpoint.base import id as uuid6_mod

    last = uuid6_mod._last_v6_timestamp
    uuid6_mod._last_v6_timestamp = None
    time.time_ns = fake_ns
    time.time = lambda: fake_ns() / 1e9
    try:
        yield
    finally:
        time.time, time.time_ns = real_time, real_time_ns
        uuid6_mod._last_v6_timestamp = last


def build_demo(data_dir: Path) -> tuple[ChatApp, ChatService]:
    settings = make_settings(data_dir)
    with fake_clock():
        service = ChatService(settings)
        lisbon = service.create_thread("Trip to Lisbon")
        list(service.send(lisbon.id, "Suggest three things to do in Lisbon"))
        first_user = service.branch_timeline(lisbon.id)[-1].id
        list(service.send(lisbon.id, "And where should I eat?"))
        # A second branch: rewind to before the first message and ask again.
        service.rewind(lisbon.id, first_user)
        list(service.send(lisbon.id, "What is the weather like in Lisbon?"))
        me = service.create_thread()
        list(service.send(me.id, "My name is Alice and I like green tea"))
        list(service.send(me.id, "Show me a Python hello world"))
    app = make_app(
        settings,
        service,
        # Two days on: every age reads "1d" (two days less the minutes the fake
        # clock ticked while the demo was built); an hour on gave "58m" or "59m"
        # depending on how many ticks that took.
        clock=lambda: EPOCH + 2 * 86400,
        poll_interval_s=3600,
        history_tz=UTC,
        warm_up_delay_s=0,
    )
    return app, service


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[ChatApp, ChatService]]:
    app, service = build_demo(tmp_path / "data")
    yield app, service
    service.close()


async def _settle(pilot) -> None:
    # A blinking cursor would make the picture depend on the moment it is taken.
    for widget in pilot.app.query("Input, TextArea"):
        widget.cursor_blink = False
    # Workers start workers (start-up -> open the thread -> its history).
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    # The chat anchors to its end once its height is known, which can land a
    # frame after the workers finish: settle it explicitly.
    pilot.app.chat.scroll_end(animate=False, immediate=True)
    # Older messages are drawn in batches as the log settles, which moves the
    # scrollbar thumb by a cell from run to run; the picture is about layout.
    pilot.app.chat.styles.scrollbar_visibility = "hidden"
    await pilot.pause()
    # Scrollbars repaint a frame after the content: one more full refresh,
    # then wait until two frames in a row look the same.
    pilot.app.screen.refresh(layout=True)
    previous = None
    for _ in range(20):
        await pilot.pause()
        shot = pilot.app.export_screenshot()
        if shot == previous:
            break
        previous = shot


@pytest.mark.parametrize("case", SCREENS, ids=screen_id)
def test_main_screen(snap_compare, demo, case):
    app, _ = demo
    size, theme = case

    async def main_screen(pilot) -> None:
        await _use_theme(pilot, theme)
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=main_screen)


@pytest.mark.parametrize("case", SCREENS, ids=screen_id)
def test_history_tab_with_branch(snap_compare, demo, case):
    app, service = demo
    size, theme = case
    lisbon = next(t for t in service.list_threads() if t.title == "Trip to Lisbon")

    async def open_history(pilot) -> None:
        await _use_theme(pilot, theme)
        await _settle(pilot)
        pilot.app.open_thread(lisbon.id)
        await _settle(pilot)
        await pilot.press("f3")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_history)


@pytest.mark.parametrize("case", SCREENS, ids=screen_id)
def test_profile_tab(snap_compare, demo, case):
    app, _ = demo
    size, theme = case

    async def open_profile(pilot) -> None:
        await _use_theme(pilot, theme)
        await _settle(pilot)
        # The store stamps facts with the real time: show fixed ones instead.
        pilot.app._set_facts(FACTS)
        await pilot.press("f4")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_profile)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
@pytest.mark.parametrize("size", [(120, 36), (80, 24), (60, 20)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_thread_list_cursor_and_open_thread(snap_compare, demo, size, theme):
    """The cursor (on another thread than the open one) and the open thread's mark."""
    app, _ = demo

    async def move_cursor(pilot) -> None:
        pilot.app.theme = theme
        await _settle(pilot)
        await pilot.press("ctrl+t")
        await _settle(pilot)
        rows = pilot.app.query_one("#thread-list")
        assert rows.highlighted == rows.index_of(pilot.app.current_id) == 0
        await pilot.press("down")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=move_cursor)
