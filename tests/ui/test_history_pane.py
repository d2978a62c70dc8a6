"""The history pane: timeline, branches, preview and rewind messages, safety, speed."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC

from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Button, Footer, Static

from chat_app.service import ChatService
from chat_app.service.events import CheckpointInfo, History
from chat_app.ui.widgets.history_pane import PROFILE_MARK, HistoryPane
from chat_app.ui.widgets.timeline import TimelineList

_SVG_TEXT = re.compile(
    r'<text[^>]*x="([\d.]+)"[^>]*clip-path="url\(#[^"]*-line-(\d+)\)"[^>]*>(.*?)</text>'
)


def screen_lines(app: App[None]) -> list[str]:
    """The screen as lines of plain text, read back from the SVG screenshot."""
    rows: dict[int, list[tuple[float, str]]] = {}
    for x, line, text in _SVG_TEXT.findall(app.export_screenshot()):
        rows.setdefault(int(line), []).append((float(x), html.unescape(text).replace("\xa0", " ")))
    out = []
    for line in sorted(rows):
        s = ""
        for x, text in sorted(rows[line]):
            s = s.ljust(round(x / 12.2)) + text
        out.append(s.rstrip())
    return out


def screen_text(app: App[None]) -> str:
    return "\n".join(screen_lines(app))


class Host(App[None]):
    def __init__(self, history: History | None = None) -> None:
        super().__init__()
        self.initial = history
        self.got: list[Message] = []

    def compose(self) -> ComposeResult:
        yield HistoryPane(tz=UTC)

    def on_mount(self) -> None:
        if self.initial is not None:
            self.query_one(HistoryPane).history = self.initial
        self.query_one(TimelineList).focus()

    def on_history_pane_checkpoint_previewed(self, m: HistoryPane.CheckpointPreviewed) -> None:
        self.got.append(m)

    def on_history_pane_rewind_requested(self, m: HistoryPane.RewindRequested) -> None:
        self.got.append(m)

    def on_history_pane_back_to_latest_requested(
        self, m: HistoryPane.BackToLatestRequested
    ) -> None:
        self.got.append(m)

    def on_history_pane_branch_chosen(self, m: HistoryPane.BranchChosen) -> None:
        self.got.append(m)


def ids_of(app: Host, kind: type[Message]) -> list[str]:
    return [m.checkpoint_id for m in app.got if isinstance(m, kind)]  # type: ignore[attr-defined]


def labels(pane: HistoryPane) -> list[str]:
    return [r.text.plain for r in pane.rows]


def two_branches(service: ChatService) -> tuple[str, str]:
    """Alice/tea on branch 1; after a rewind to before the first message, branch 2."""
    t = service.create_thread()
    list(service.send(t.id, "My name is Alice"))
    list(service.send(t.id, "I like tea"))
    first = service.branch_timeline(t.id)[-1]
    assert first.summary == "you: My name is Alice"
    service.rewind(t.id, first.id)
    list(service.send(t.id, "other path"))
    return t.id, first.id


async def test_linear_timeline_oldest_first_with_who_what_when_and_profile_note(
    service: ChatService,
) -> None:
    t = service.create_thread()
    list(service.send(t.id, "My name is Alice"))
    list(service.send(t.id, "What is the weather?"))
    app = Host(service.history(t.id))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        rows = labels(pane)
        assert len(rows) == 4
        assert "you: My name is Alice" in rows[0]
        # One line per entry: the profile note is a mark, explained above the list.
        assert "assistant:" in rows[1] and PROFILE_MARK in rows[1]
        assert "you: What is the weather?" in rows[2]
        assert PROFILE_MARK not in rows[3]
        assert all("\n" not in r for r in rows)
        assert not any("branch" in r for r in rows)
        # Who and what on the left, when at the right; no internal step numbers.
        assert rows[0] == "● you: My name is Alice"
        line = next(ln for ln in screen_text(app).splitlines() if "My name is Alice" in ln)
        assert re.search(r"you: My name is Alice +\d\d:\d\d", line), line
        assert "-1" not in line
        # The newest entry is marked and highlighted, without a preview being asked for.
        assert rows[3].lstrip().startswith("◆")
        assert app.query_one(TimelineList).highlighted == 3
        assert app.got == []
        text = screen_text(app)
        assert "4 entries" in text
        assert f"{PROFILE_MARK} profile updated" in text
        assert "you: My name is Alice" in text


async def test_rewind_makes_a_visible_branch_and_left_right_switch_it(
    service: ChatService,
) -> None:
    thread_id, _ = two_branches(service)
    app = Host(service.history(thread_id))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "branch 2 of 2 · current" in text
        assert "rewound to before “you: My name is Alice”" in text
        assert "you: other path" in text
        assert "I like tea" not in text

        await pilot.press("left")
        text = screen_text(app)
        assert "branch 1 of 2" in text and "current" not in text
        assert "you: My name is Alice" in text
        assert "you: I like tea" in text
        assert "other path" not in text
        assert "viewing another branch" in text

        await pilot.press("right")
        text = screen_text(app)
        assert "branch 2 of 2 · current" in text
        assert "you: other path" in text
        # Switching branches chooses which branch the thread shows (its end),
        # not a preview or a rewind.
        chosen = ids_of(app, HistoryPane.BranchChosen)
        assert len(chosen) == 2
        assert [m.text for m in service.load_messages(thread_id, chosen[0])][-2] == "I like tea"
        assert chosen[1] == service.history(thread_id).head_id
        assert all(isinstance(m, HistoryPane.BranchChosen) for m in app.got)


async def test_highlight_previews_and_enter_rewinds_with_the_entry_id(
    service: ChatService,
) -> None:
    thread_id, _ = two_branches(service)
    app = Host(service.history(thread_id))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        timeline = app.query_one(TimelineList)
        await pilot.press("up")
        row = pane.rows[timeline.highlighted or 0]
        assert "you: other path" in row.text.plain
        # A "you" row previews the conversation with that message in it.
        assert ids_of(app, HistoryPane.CheckpointPreviewed) == [row.preview_id]
        shown = service.load_messages(thread_id, row.preview_id)
        assert [m.text for m in shown][-1] == "other path"
        assert app.got[0].thread_id == thread_id  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert ids_of(app, HistoryPane.RewindRequested) == [row.checkpoint_id]
        # It is the real checkpoint of that message in the service's timeline.
        timeline_ids = {c.id: c.summary for c in service.branch_timeline(thread_id)}
        assert timeline_ids[row.checkpoint_id] == "you: other path"


async def test_rewinding_to_an_entry_on_another_branch_forks_again(
    service: ChatService,
) -> None:
    thread_id, _ = two_branches(service)
    app = Host(service.history(thread_id))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        timeline = app.query_one(TimelineList)
        await pilot.press("left")  # branch 1: the Alice and tea conversation
        tea = next(i for i, r in enumerate(pane.rows) if "you: I like tea" in r.text.plain)
        while timeline.highlighted != tea:
            await pilot.press("down")
        await pilot.press("enter")
        target = ids_of(app, HistoryPane.RewindRequested)[-1]
        assert target == pane.rows[tea].checkpoint_id

        # What the app does next: rewind, then hand the pane the new listing.
        service.rewind(thread_id, target)
        pane.history = service.history(thread_id)
        await pilot.pause()
        rows = labels(pane)
        assert "⑂ branch 1 of 2 · current" in rows[0]
        assert any("branch 2 of 2 · current" in r for r in rows)
        assert "rewound to before “you: I like tea”" in rows[-1]
        assert rows[-1].lstrip("│ ").startswith("◆")
        # Nothing was lost: the other path is still one key away.
        await pilot.press("home", "right")
        assert any("you: other path" in r for r in labels(pane))


async def test_regenerate_and_edit_give_nested_forks(service: ChatService) -> None:
    t = service.create_thread()
    list(service.send(t.id, "one"))
    list(service.send(t.id, "two"))
    list(service.regenerate(t.id))
    first = service.load_messages(t.id)[0]
    list(service.edit_and_resend(t.id, first.id, "one edited"))
    app = Host(service.history(t.id))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        rows = labels(pane)
        assert "branch 2 of 2 · current" in rows[0]
        assert "you: one edited" in rows[1]
        assert not any("you: two" in r for r in rows)
        await pilot.press("left")
        rows = labels(pane)
        # Branch 1 holds the original message and, nested, the regenerated reply
        # (the newest of its two branches is shown first).
        assert "branch 1 of 2" in rows[0]
        assert "you: one" in rows[1]
        nested = next(r for r in rows[1:] if "branch" in r)
        assert "branch 2 of 2" in nested and nested.startswith("│ ")
        assert sum("you: two" in r for r in rows) == 1


async def test_click_previews_but_never_rewinds(service: ChatService) -> None:
    thread_id, _ = two_branches(service)
    app = Host(service.history(thread_id))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        target = next(i for i, r in enumerate(pane.rows) if "you: other path" in r.text.plain)
        # Row 0 of the timeline is at y=0 inside the list (no border).
        await pilot.click(TimelineList, offset=(5, target))
        await pilot.pause()
        assert ids_of(app, HistoryPane.CheckpointPreviewed) == [pane.rows[target].preview_id]
        assert ids_of(app, HistoryPane.RewindRequested) == []
        # A click on the fork row switches to its next branch.
        await pilot.click(TimelineList, offset=(5, 0))
        await pilot.pause()
        assert "branch 1 of 2" in labels(pane)[0]


async def test_buttons_rewind_here_and_back_to_latest(service: ChatService) -> None:
    thread_id, _ = two_branches(service)
    app = Host(service.history(thread_id))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        await pilot.press("up")
        chosen = pane.rows[app.query_one(TimelineList).highlighted or 0].checkpoint_id
        await pilot.click("#history-rewind")
        assert ids_of(app, HistoryPane.RewindRequested) == [chosen]

        await pilot.press("home")  # the fork row: nothing to rewind to
        assert app.query_one("#history-rewind", Button).disabled
        await pilot.press("left")
        assert "branch 1 of 2" in labels(pane)[0]
        await pilot.click("#history-latest")
        assert isinstance(app.got[-1], HistoryPane.BackToLatestRequested)
        assert "branch 2 of 2 · current" in labels(pane)[0]
        assert app.query_one(TimelineList).highlighted == len(pane.rows) - 1


async def test_branch_keys_appear_in_the_footer_only_where_there_is_a_fork(
    service: ChatService,
) -> None:
    class WithFooter(Host):
        def compose(self) -> ComposeResult:
            yield HistoryPane(tz=UTC)
            yield Footer()

    t = service.create_thread()
    list(service.send(t.id, "hello"))
    app = WithFooter(service.history(t.id))
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "Latest" in footer and "branch" not in footer
        thread_id, _ = two_branches(service)
        app.query_one(HistoryPane).history = service.history(thread_id)
        await pilot.pause()
        assert "Prev branch" in screen_lines(app)[-1]
        # A new listing of the same thread keeps them; a thread without forks hides them.
        app.query_one(HistoryPane).history = service.history(thread_id)
        await pilot.pause()
        assert "Prev branch" in screen_lines(app)[-1]
        app.query_one(HistoryPane).history = service.history(t.id)
        await pilot.pause()
        assert "branch" not in screen_lines(app)[-1]


async def test_empty_and_cleared_history() -> None:
    app = Host()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert "No history yet" in screen_text(app)
        assert app.query_one("#history-rewind", Button).disabled
        await pilot.press("left", "right", "enter")
        assert app.got == []


def cp(
    i: int,
    parent: int | None,
    kind: str = "",
    summary: str = "",
    *,
    source: str = "loop",
    step: int | None = None,
    profile: bool = False,
    prefix: str = "c",
) -> CheckpointInfo:
    return CheckpointInfo(
        id=f"{prefix}{i:05d}",
        parent_id=None if parent is None else f"c{parent:05d}",
        step=i if step is None else step,
        source=source,
        created_at=1_767_261_600 + i * 60,  # 2026-01-01 10:00 UTC, a minute a step
        kind=kind,
        summary=summary,
        profile_updated=profile,
    )


async def test_untrusted_summaries_are_shown_literally_and_do_nothing() -> None:
    payloads = [
        "you: [@click=app.quit]x[/]",
        "assistant: [link=x]y and [bold]b[/bold] and [/",
        "you: \x1b]0;pwned\x07 \x1b[2J \x1b]52;c;aGk=\x07",
    ]
    cps = [cp(0, None, "user", payloads[0], source="input")]
    cps += [cp(1, 0, "assistant", payloads[1]), cp(2, 1, "user", payloads[2], source="input")]
    history = History("t1", cps, "c00002", frozenset(c.id for c in cps))
    app = Host(history)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        timeline = app.query_one(TimelineList)
        prompts = [str(timeline.get_option_at_index(i).prompt) for i in range(3)]
        assert "[@click=app.quit]x[/]" in prompts[0]
        assert "[link=x]y and [bold]b[/bold] and [/" in prompts[1]
        assert "\x1b" not in prompts[2] and "\x07" not in prompts[2]
        assert "␛]0;pwned␇" in prompts[2]
        text = screen_text(app)
        assert "[@click=app.quit]x[/]" in text
        assert "[link=x]y" in text
        assert "\x1b" not in app.export_screenshot()
        await pilot.click(TimelineList, offset=(20, 0))
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running
        assert ids_of(app, HistoryPane.RewindRequested) == ["c00000"]


def big_history(n: int = 3000) -> History:
    """A 3,000-checkpoint thread: turns of five steps, a side branch at step 1,000."""
    kinds = ["user", "", "", "", "assistant"]
    cps = []
    for i in range(n):
        kind = kinds[i % 5]
        summary = f"{kind}: message {i}" if kind else ""
        src = "input" if kind == "user" else "loop"
        cps.append(cp(i, i - 1 if i else None, kind, summary, source=src, profile=i % 50 == 4))
    side = [
        CheckpointInfo("s0", "c01004", 1005, "update", 1_767_500_000, "rewind", "rewound"),
        CheckpointInfo("s1", "s0", 1006, "input", 1_767_500_060, "user", "you: side"),
    ]
    cps += side
    return History("big", cps, "c02999", frozenset(c.id for c in cps[:n]))


async def test_three_thousand_checkpoints_render_quickly() -> None:
    history = big_history()
    app = Host()
    async with app.run_test(size=(60, 30)) as pilot:
        pane = app.query_one(HistoryPane)
        start = time.perf_counter()
        pane.history = history
        await pilot.pause()
        elapsed = time.perf_counter() - start
        # 1,200 labelled entries and one fork: the newest page, under "earlier entries…".
        assert len(pane.rows) == HistoryPane.PAGE + 1
        assert pane.rows[0].is_more and "1,001 more" in pane.rows[0].text.plain
        assert elapsed < 2.0, f"{elapsed:.2f}s"
        assert "assistant: message 2999" in screen_text(app)
        assert "newest 200 entries" in screen_text(app)


async def test_earlier_entries_are_shown_page_by_page() -> None:
    app = Host(big_history())
    async with app.run_test(size=(60, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        timeline = app.query_one(TimelineList)
        newest_first_shown = pane.rows[1].checkpoint_id
        while pane.rows[0].is_more:
            before = sum(1 for r in pane.rows if not r.is_more)
            timeline.highlighted = 0
            await pilot.press("enter")
            await pilot.pause()
            assert sum(1 for r in pane.rows if not r.is_more) > before
            # The entry that was the oldest shown stays highlighted (no jump).
            highlighted = pane.rows[timeline.highlighted or 0]
            assert highlighted.checkpoint_id == newest_first_shown
            newest_first_shown = pane.rows[1].checkpoint_id if pane.rows[0].is_more else ""
        assert len(pane.rows) == 1201  # every entry and the fork
        assert "user: message 0" in pane.rows[0].text.plain
        # Showing earlier entries is not a preview or a rewind request.
        assert app.got == []
        # The side branch (forked at step 1,004) is reachable now.
        fork = next(i for i, r in enumerate(pane.rows) if r.is_fork)
        timeline.highlighted = fork + 1
        await pilot.press("left")
        assert "you: side" in "\n".join(labels(pane))


async def test_a_partial_history_asks_the_app_for_the_rest() -> None:
    full = big_history()
    partial = History(
        full.thread_id, full.checkpoints[-500:], full.head_id, full.branch_ids, complete=False
    )
    asked: list[str] = []

    class Asking(Host):
        def on_history_pane_earlier_requested(self, m: HistoryPane.EarlierRequested) -> None:
            asked.append(m.thread_id)
            self.query_one(HistoryPane).history = full

    app = Asking(partial)
    async with app.run_test(size=(60, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(HistoryPane)
        # 500 checkpoints are 200 entries: all shown, and earlier ones exist.
        assert pane.rows[0].is_more and "more)" not in pane.rows[0].text.plain
        # (The side branch forked before the window: it shows as a fork at the top.)
        oldest_shown = next(r.checkpoint_id for r in pane.rows if r.is_entry)
        app.query_one(TimelineList).highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        assert asked == ["big"]
        assert pane.wants_all
        assert len([r for r in pane.rows if r.is_entry]) == 2 * HistoryPane.PAGE
        timeline = app.query_one(TimelineList)
        assert pane.rows[timeline.highlighted or 0].checkpoint_id == oldest_shown


def snapshot_history() -> History:
    """Fixed ids and times: a first turn, then a rewind to before it and a new turn."""
    cps = [
        cp(0, None, "user", "you: My name is Alice", source="input", step=-1),
        cp(1, 0),
        cp(2, 1, "assistant", "assistant: Nice to meet you, Alice!", step=2, profile=True),
        cp(3, 2, "user", "you: I like tea", source="input"),
        cp(4, 3),
        cp(5, 4, "assistant", "assistant: Noted, you like tea.", profile=True),
        cp(6, 0, "rewind", "rewound to before “you: My name is Alice”", source="update", step=0),
        cp(7, 6, "user", "you: Call me Bob [bold]now[/]", source="input", step=1),
        cp(8, 7),
        cp(9, 8, "assistant", "assistant: Hello Bob, what can I do for you today?", step=3),
    ]
    branch = frozenset({"c00000", "c00006", "c00007", "c00008", "c00009"})
    return History("snap", cps, "c00009", branch)


def test_snapshot_history_pane_with_a_branch(snap_compare: object) -> None:
    assert snap_compare(Host(snapshot_history()), terminal_size=(60, 30))  # type: ignore[operator]


def test_snapshot_history_pane_other_branch(snap_compare: object) -> None:
    assert snap_compare(  # type: ignore[operator]
        Host(snapshot_history()), terminal_size=(60, 30), press=["up", "left"]
    )


async def test_the_highlighted_entry_is_shown_in_full_below_a_narrow_list(
    service: ChatService,
) -> None:
    t = service.create_thread()
    long = "Please plan a three day walking trip around Lisbon with cafés"
    list(service.send(t.id, long))
    app = Host(service.history(t.id))
    async with app.run_test(size=(36, 20)) as pilot:
        await pilot.pause()
        await pilot.press("up")
        row_line = next(ln for ln in screen_text(app).splitlines() if "you: Please" in ln)
        assert "cafés" not in row_line  # the row is cut to the narrow width...
        detail = app.query_one("#history-detail", Static)
        assert long in str(detail.render()).replace("\n", " ")  # ...the detail is not
