"""Small display helpers shared by widgets (ages, titles)."""

from __future__ import annotations

from rich.text import Text

from chat_app.safe_text import one_line


def age(seconds: float) -> str:
    """A compact age: "now", "3m", "5h", "2d", "6w", "1y"."""
    s = max(0, int(seconds))
    if s < 60:
        return "now"
    for unit, size, nxt in (("m", 60, 3600), ("h", 3600, 86400), ("d", 86400, 7 * 86400)):
        if s < nxt:
            return f"{s // size}{unit}"
    if s < 365 * 86400:
        return f"{s // (7 * 86400)}w"
    return f"{s // (365 * 86400)}y"


def title_text(title: str, limit: int = 60) -> Text:
    """An untrusted thread title as a Text object (never markup)."""
    return Text(one_line(title, limit) if title.strip() else "(untitled)")
