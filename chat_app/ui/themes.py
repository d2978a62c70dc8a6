"""The start-up warning for a theme name Textual does not know.

Config validation cannot list the themes without importing Textual, so the
name is checked when the TUI starts.
"""

from __future__ import annotations

from collections.abc import Iterable

from chat_app.safe_text import one_line


def unknown_theme_warning(name: str, available: Iterable[str]) -> str:
    """One line: the unknown ``ui.theme`` and the names that would work."""
    names = ", ".join(sorted(available))
    return f"Unknown theme {one_line(name, 40)!r} in ui.theme; using the default. Themes: {names}"
