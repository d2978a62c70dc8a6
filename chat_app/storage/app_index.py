"""What the backends' indexes share: the app's own tables beside LangGraph's
(threads, search text, timeline notes, token usage, partial replies, chosen
heads) and how their values are read."""

from __future__ import annotations

# The app's own tables, each keyed by thread: what deleting a thread clears.
APP_TABLES = (
    "app_threads",
    "app_messages",
    "app_notes",
    "app_usage",
    "app_heads",
    "app_partial_replies",
)


def uuid6_time(checkpoint_id: str) -> float:
    """Unix time encoded in a LangGraph (uuid6) checkpoint id; 0.0 if not one."""
    # Parsed by hand: uuid.UUID() was a third of the history listing's time.
    digits = checkpoint_id.replace("-", "")
    # Version nibble 6 and the RFC 4122 variant (uuid.UUID.version is None otherwise).
    if len(digits) != 32 or digits[12] != "6" or digits[16] not in "89abAB":
        return 0.0
    try:
        h = int(digits, 16)
    except ValueError:
        return 0.0
    time_high = h >> 96
    time_mid = (h >> 80) & 0xFFFF
    time_low = (h >> 64) & 0x0FFF
    ticks = (time_high << 28) | (time_mid << 12) | time_low
    return (ticks - 0x01B21DD213814000) / 1e7


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
