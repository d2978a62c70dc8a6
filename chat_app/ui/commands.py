"""The app's own commands in the command palette (ctrl+p).

The provider names the actions it offers in ``CommandTarget`` rather than
importing the app, which imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider


@runtime_checkable
class CommandTarget(Protocol):
    """What the commands act on: the chat app's actions."""

    def action_new_thread(self) -> None: ...
    def action_rename_thread(self) -> None: ...
    def action_delete_thread(self) -> None: ...
    def action_focus_history(self) -> None: ...
    def back_to_latest(self) -> None: ...
    def action_export(self) -> None: ...
    def action_regenerate(self) -> None: ...
    def action_resume_reply(self) -> None: ...
    def action_discard_reply(self) -> None: ...
    def action_copy_reply(self) -> None: ...
    def action_show_summary(self) -> None: ...
    def action_copy_code(self) -> None: ...
    def action_switch_model(self, name: str = "") -> None: ...
    def action_toggle_sidebar(self) -> None: ...
    def action_toggle_side_panel(self) -> None: ...
    def action_focus_profile(self) -> None: ...


def _commands(app: CommandTarget) -> list[tuple[str, Callable[[], object], str]]:
    return [
        ("New thread", app.action_new_thread, "Start a new conversation"),
        ("Rename thread", app.action_rename_thread, "Rename the open thread"),
        ("Delete thread", app.action_delete_thread, "Delete the open thread (asks first)"),
        ("Rewind…", app.action_focus_history, "Pick a checkpoint in History, Enter rewinds"),
        ("Back to latest", app.back_to_latest, "Return to the newest branch"),
        ("Export thread", app.action_export, "Write the thread as Markdown to this directory"),
        ("Regenerate reply", app.action_regenerate, "Ask again for the last reply"),
        ("Resume unfinished reply", app.action_resume_reply, "Finish a reply that failed"),
        ("Discard unfinished reply", app.action_discard_reply, "Drop it (kept in History)"),
        ("Copy last reply", app.action_copy_reply, "To the clipboard"),
        (
            "Show summary of earlier messages",
            app.action_show_summary,
            "What the model sees of a thread too long for its context",
        ),
        ("Copy code block", app.action_copy_code, "The last code block, to the clipboard"),
        ("Switch model: offline", partial(app.action_switch_model, "offline"), "No network"),
        ("Switch model: openai:…", app.action_switch_model, "Any OpenAI-compatible server"),
        ("Toggle sidebar", app.action_toggle_sidebar, "Show or hide the thread list"),
        ("Toggle side panel", app.action_toggle_side_panel, "Show or hide History/Profile"),
        ("Show profile", app.action_focus_profile, "What the assistant knows about you"),
    ]


class ChatCommands(Provider):
    """Commands that act on the open thread and the panels."""

    def _app(self) -> CommandTarget:
        assert isinstance(self.app, CommandTarget)
        return self.app

    async def discover(self) -> Hits:
        for name, action, help_text in _commands(self._app()):
            yield DiscoveryHit(name, action, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in _commands(self._app()):
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, help=help_text)
