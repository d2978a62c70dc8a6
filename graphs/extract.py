"""Rule-based extraction of profile statements from what the user says.

Used by the offline model's memory step; real models use structured output
(see ``graphs.remember``). Deterministic and table-tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("name", "location", "job", "like", "dislike", "preference", "fact")


@dataclass(frozen=True)
class Statement:
    """One thing the user said about themself.

    ``key`` is the store key: single-valued kinds use the kind itself
    ("name", "location", "job"), so a later statement replaces the earlier one;
    multi-valued kinds add the item ("like:jazz"). ``replaces`` lists keys this
    statement makes obsolete (saying you dislike jazz forgets that you like it).
    """

    kind: str
    key: str
    value: str
    replaces: tuple[str, ...] = field(default=())


_NAME = re.compile(
    r"\b(?:my name is|my name's|call me|i am called|i'm called)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?)",
    re.IGNORECASE,
)


def extract_statements(text: str) -> list[Statement]:
    """Statements about the user found in one message (possibly none)."""
    out: list[Statement] = []
    m = _NAME.search(text)
    if m:
        name = m.group(1).strip()
        out.append(Statement("name", "name", name[:1].upper() + name[1:]))
    return out
