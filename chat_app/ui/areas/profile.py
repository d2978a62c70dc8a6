"""The profile area: what the assistant knows about the person, shown in the
profile panel (loaded with the agent, in the background), and the person's
edits to it."""

from __future__ import annotations

import gc
from typing import Any

from rich.text import Text

from chat_app.ui.areas.base import ChatAppBase
from chat_app.ui.markdown_text import prepare_rendering
from chat_app.ui.screens.confirm import ConfirmScreen
from chat_app.ui.widgets.profile_panel import forgot_notice


class ProfileArea(ChatAppBase):
    """The profile panel and the agent's warm-up."""

    def warm_up(self) -> None:
        """Load the agent and the profile (once), so the first message does not wait."""
        if self._warm is not None:
            return

        def load() -> list[Any]:
            self.service.load_agent()
            prepare_rendering()
            return list(self.service.profile())

        def loaded(facts: list[Any]) -> None:
            self._set_facts(facts)
            # The agent's libraries are ~100,000 more long-lived objects: left
            # in the collected generations, a full collection took ~70 ms (in
            # the middle of opening a thread); frozen, as at start-up.
            gc.freeze()

        self._warm = self.call_service(load, loaded, group="profile")

    def _set_facts(self, facts: list[Any]) -> None:
        panel = self._panel("profile-panel")
        if panel is not None:
            panel.show(facts)  # type: ignore[attr-defined]

    def refresh_profile(self) -> None:
        self.call_service(self.service.profile, self._set_facts, group="profile")

    def on_profile_panel_fact_edited(self, event: Any) -> None:
        key, value = event.key, event.value
        self.call_service(
            lambda: self.service.edit_fact(key, value), lambda _: self.refresh_profile()
        )

    def on_profile_panel_fact_forgotten(self, event: Any) -> None:
        key, fact = event.key, event.fact

        def forgotten(_: object) -> None:
            self.refresh_profile()
            if fact is not None:
                self.notify(forgot_notice(fact), markup=False)

        self.call_service(lambda: self.service.forget(key), forgotten)

    def on_profile_panel_fact_restored(self, event: Any) -> None:
        fact = event.fact
        self.call_service(lambda: self.service.restore_fact(fact), lambda _: self.refresh_profile())

    def on_profile_panel_forget_all_requested(self, event: Any) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.call_service(self.service.forget_all, lambda _: self.refresh_profile())

        question = Text("Forget everything the assistant has learned about you?")
        self.push_screen(ConfirmScreen(question, "Forget all"), answered)

    def on_profile_panel_provenance_opened(self, event: Any) -> None:
        self.open_thread(event.thread_id, select_message=event.message_id)
