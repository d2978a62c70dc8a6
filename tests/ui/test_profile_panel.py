"""The profile panel: grouping, provenance, edit/forget messages, safety."""

from __future__ import annotations

import html
import re
from datetime import UTC
from pathlib import Path

from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Input

from chat_app.config import load_settings
from chat_app.service import ChatService
from chat_app.ui.app import make_app
from chat_app.ui.widgets.profile_panel import LOADING_TEXT, FactRow, ProfilePanel
from graphs.profile import ProfileFact
from tests.ui.test_chat import settle

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
    def __init__(self, facts: list[ProfileFact] | None = None) -> None:
        super().__init__()
        self.initial = facts
        self.got: list[Message] = []

    def compose(self) -> ComposeResult:
        yield ProfilePanel(tz=UTC)

    def on_mount(self) -> None:
        if self.initial is not None:
            self.query_one(ProfilePanel).facts = self.initial

    def on_profile_panel_fact_edited(self, m: ProfilePanel.FactEdited) -> None:
        self.got.append(m)

    def on_profile_panel_fact_forgotten(self, m: ProfilePanel.FactForgotten) -> None:
        self.got.append(m)

    def on_profile_panel_forget_all_requested(self, m: ProfilePanel.ForgetAllRequested) -> None:
        self.got.append(m)

    def on_profile_panel_provenance_opened(self, m: ProfilePanel.ProvenanceOpened) -> None:
        self.got.append(m)


def learned(service: ChatService) -> tuple[str, list[ProfileFact]]:
    t = service.create_thread()
    for text in ("My name is Alice", "I like tea", "I live in Paris"):
        list(service.send(t.id, text))
    return t.id, service.profile()


def rows(app: Host) -> list[FactRow]:
    return list(app.query(FactRow))


async def test_facts_are_grouped_with_where_and_when_they_were_learned(
    service: ChatService,
) -> None:
    thread_id, facts = learned(service)
    assert {f.group for f in facts} == {"name", "preferences", "facts"}
    app = Host(list(reversed(facts)))
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.pause()
        lines = screen_lines(app)
        text = "\n".join(lines)
        heading = [
            line.strip() for line in lines if line.strip() in ("Name", "Preferences", "Facts")
        ]
        assert heading == ["Name", "Preferences", "Facts"]
        assert text.index("Alice") < text.index("likes tea") < text.index("lives in Paris")
        assert text.count(f"in thread {thread_id[:8]}") == 3
        assert re.search(r"learned \d{4}-\d\d-\d\d \d\d:\d\d in thread", text)


async def test_edit_with_the_keyboard_posts_fact_edited(service: ChatService) -> None:
    _, facts = learned(service)
    app = Host(facts)
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.pause()
        name_row = next(r for r in rows(app) if r.fact.key == "name")
        name_row.focus()
        await pilot.press("e")
        editor = name_row.query_one(Input)
        assert editor.has_focus and editor.value == "Alice"
        editor.value = ""
        await pilot.press("enter")  # empty: not sent, still editing
        assert app.got == [] and name_row.editing
        await pilot.press(*"Alicia", "enter")
        edited = [m for m in app.got if isinstance(m, ProfilePanel.FactEdited)]
        assert [(m.key, m.value) for m in edited] == [("name", "Alicia")]
        assert not name_row.editing and name_row.has_focus

        # The app applies it and hands the panel the new facts.
        service.edit_fact("name", "Alicia")
        app.query_one(ProfilePanel).facts = service.profile()
        await pilot.pause()
        text = screen_text(app)
        assert "Alicia" in text and "edited by you" in text
        # The person's place survives the rebuild.
        assert isinstance(app.focused, FactRow) and app.focused.fact.key == "name"


async def test_escape_cancels_an_edit_and_edit_button_opens_it(service: ChatService) -> None:
    _, facts = learned(service)
    app = Host(facts)
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.pause()
        row = next(r for r in rows(app) if r.fact.key == "like:tea")
        await pilot.click(row.query_one(".fact-edit"))
        assert row.editing
        await pilot.press(*" and coffee", "escape")
        assert not row.editing and app.got == []
        await pilot.click(row.query_one(".fact-edit"))
        await pilot.press("end", *" green", "enter")
        assert [(m.key, m.value) for m in app.got] == [("like:tea", "tea green")]


async def test_a_half_typed_edit_survives_a_live_update(service: ChatService) -> None:
    thread_id, facts = learned(service)
    app = Host(facts)
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.pause()
        row = next(r for r in rows(app) if r.fact.key == "location")
        row.focus()
        await pilot.press("e", "end", *" suburbs")
        # Meanwhile a reply teaches the agent something new.
        list(service.send(thread_id, "I like jazz"))
        app.query_one(ProfilePanel).facts = service.profile()
        await pilot.pause()
        assert "likes jazz" in screen_text(app)
        row = next(r for r in rows(app) if r.fact.key == "location")
        editor = row.query_one(Input)
        assert row.editing and editor.has_focus and editor.value == "Paris suburbs"
        await pilot.press("enter")
        assert [(m.key, m.value) for m in app.got] == [("location", "Paris suburbs")]  # type: ignore[attr-defined]


async def test_forget_one_by_key_and_by_button_and_forget_all(service: ChatService) -> None:
    _, facts = learned(service)
    app = Host(facts)
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.pause()
        first, second, third = rows(app)
        first.focus()
        await pilot.press("down", "x")
        await pilot.click(third.query_one(".fact-forget"))
        await pilot.click("#profile-forget-all")
        kinds = [type(m).__name__ for m in app.got]
        assert kinds == ["FactForgotten", "FactForgotten", "ForgetAllRequested"]
        assert [m.key for m in app.got[:2]] == [second.fact.key, third.fact.key]  # type: ignore[attr-defined]

        # The app forgets it: the row goes and the cursor moves to a neighbour.
        second.focus()
        service.forget(second.fact.key)
        app.query_one(ProfilePanel).facts = service.profile()
        await pilot.pause()
        assert len(rows(app)) == 2
        assert isinstance(app.focused, FactRow) and app.focused.fact.key == third.fact.key


async def test_provenance_opens_on_click_and_on_enter(service: ChatService) -> None:
    thread_id, facts = learned(service)
    app = Host(facts)
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.pause()
        first = rows(app)[0]
        await pilot.click(first.query_one(".fact-provenance"))
        first.focus()
        await pilot.press("enter")
        opened = [(m.thread_id, m.message_id) for m in app.got]  # type: ignore[attr-defined]
        assert opened == [(thread_id, first.fact.message_id)] * 2
        assert first.fact.message_id
        # The message is the person's message that taught it.
        texts = {m.id: m.text for m in service.load_messages(thread_id)}
        assert texts[first.fact.message_id] == "My name is Alice"


async def test_loading_then_empty_state_then_live_update() -> None:
    app = Host()
    async with app.run_test(size=(70, 20)) as pilot:
        await pilot.pause()
        # Until the app hands it the profile, the panel does not claim it is empty.
        assert "Loading what I know about you" in screen_text(app)
        assert "Nothing learned yet" not in screen_text(app)
        panel = app.query_one(ProfilePanel)
        panel.facts = []
        await pilot.pause()
        assert "Nothing learned yet — tell me your name" in screen_text(app)
        assert app.query_one("#profile-forget-all").disabled
        panel.facts = [ProfileFact("name", "name", "Alice", "t1", "m1")]
        await pilot.pause()
        text = screen_text(app)
        assert "Nothing learned yet" not in text and "Alice" in text
        assert "learned in thread t1" in text  # no time known: just the thread
        panel.facts = []
        await pilot.pause()
        assert "Nothing learned yet" in screen_text(app)


async def test_untrusted_facts_are_shown_literally_and_do_nothing() -> None:
    facts = [
        ProfileFact("name", "name", "[@click=app.quit]x[/]", "t[b]1", "m1", source_text="x"),
        ProfileFact("like:a", "like", "[link=x]y and [/", "t2", "m2", learned_at="[bold]"),
        ProfileFact("fact:b", "fact", "evil \x1b]52;c;aGk=\x07\x1b[2J", "t3", "m3"),
    ]
    app = Host(facts)
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "[@click=app.quit]x[/]" in text
        assert "likes [link=x]y and [/" in text
        assert "learned [bold] in thread t2" in text
        assert "evil ␛]52;c;aGk=␇␛[2J" in text
        assert "\x1b" not in app.export_screenshot()
        await pilot.click(rows(app)[0].query_one(".fact-value"))
        await pilot.pause()
        assert app.is_running


def snapshot_facts() -> list[ProfileFact]:
    when = "2026-01-01T10:00:00+00:00"
    return [
        ProfileFact("name", "name", "Alice", "1f0e9d8c-0000", "m1", "", when, "My name is Alice"),
        ProfileFact("like:tea", "like", "tea", "1f0e9d8c-0000", "m2", "", when, "I like tea"),
        ProfileFact("dislike:rain", "dislike", "rain", "2a3b4c5d-0000", "m3", "", when, "x"),
        ProfileFact("location", "location", "Paris", "2a3b4c5d-0000", "m4", "", when, "x"),
        ProfileFact("job", "job", "teacher", "2a3b4c5d-0000", "m5", "", when, "edited by you"),
    ]


def test_snapshot_profile_panel(snap_compare: object) -> None:
    assert snap_compare(Host(snapshot_facts()), terminal_size=(60, 30))  # type: ignore[operator]


def test_snapshot_profile_panel_empty(snap_compare: object) -> None:
    assert snap_compare(Host([]), terminal_size=(60, 30))  # type: ignore[operator]


async def test_profile_tab_loads_for_a_user_id_with_a_dot(tmp_path: Path) -> None:
    """Login names like john.doe: the reply finishes, the Profile tab shows
    what was learned, and forgetting it works."""
    settings = load_settings(
        None,
        env={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "data")},
            "model": {"offline_token_delay_ms": 0},
            "user": {"id": "john.doe"},
        },
        use_user_config=False,
    )
    service = ChatService(settings)
    try:
        app = make_app(settings, service, poll_interval_s=3600, warm_up_delay_s=0)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await pilot.click("#chat-input")
            await pilot.press(*"my name is Bob", "enter")
            await settle(pilot)
            assert "Nice to meet you, Bob" in screen_text(app)
            await pilot.press("f4")
            await settle(pilot)
            shown = screen_text(app)
            assert LOADING_TEXT not in shown
            assert "Bob" in [row.fact.value for row in app.query(FactRow)]
            app.query_one(FactRow).focus()
            await pilot.press("x")
            await settle(pilot)
            assert not app.query(FactRow)
            assert "Nothing learned yet" in screen_text(app)
        assert service.profile() == []
    finally:
        service.close()


async def test_f4_puts_the_keyboard_on_the_first_fact(app_factory, service: ChatService) -> None:
    """F4 opens the profile where its keys act: e edits the first fact at once."""
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press(*"my name is Bob", "enter")
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        first = app.query(FactRow).first()
        assert first.has_focus and first.fact.value == "Bob"
        await pilot.press("e")
        await pilot.pause()
        assert first.editing and first.query_one(Input).has_focus


async def test_typing_in_a_fact_editor_adds_to_the_value(app_factory, service: ChatService) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press(*"my name is Alice", "enter")
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press(*" Smith", "enter")
        await settle(pilot)
        assert {f.key: f.value for f in service.profile()}["name"] == "Alice Smith"
