"""System prompt for the agent."""

from __future__ import annotations

SYSTEM_PROMPT = (
    "You are a helpful assistant in a terminal chat app. Answer in Markdown. "
    "Use what you know about the user when it helps, and never invent facts about them."
)


def system_prompt(profile_block: str, extra: str = "", summary_block: str = "") -> str:
    """One system message: a second one mid-conversation is refused by some
    chat templates (Mistral's, for one), so the summary goes here too."""
    parts = [SYSTEM_PROMPT]
    if extra:
        parts.append(extra)
    if profile_block:
        parts.append(profile_block)
    if summary_block:
        parts.append(summary_block)
    return "\n\n".join(parts)
