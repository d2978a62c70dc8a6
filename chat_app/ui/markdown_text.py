"""Markdown as text: splitting a reply into its top-level blocks, finding its
code blocks, and loading what drawing one needs ahead of time."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.markdown import Markdown as RichMarkdown

CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
FENCES = ("```", "~~~")


def markdown_blocks(text: str) -> list[str]:
    """Top-level blocks of a Markdown text: split at blank lines outside code
    fences. The last one is what follows the last such blank line ("" if none)."""
    blocks: list[str] = []
    current: list[str] = []
    fence = ""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if not fence and stripped.startswith(FENCES) and len(line) - len(stripped) <= 3:
            fence = stripped[:3]
        elif fence and stripped.startswith(fence):
            fence = ""
        if not fence and not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    blocks.append("\n".join(current))
    return blocks


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown text, in order."""
    return [m.group(1).rstrip("\n") for m in CODE_BLOCK.finditer(text)]


def prepare_rendering() -> None:
    """Load what drawing a code block needs (Pygments' lexer and style: ~45 ms the
    first time), off the UI thread, so the first thread opened does not pay it."""
    console = Console(width=40, file=io.StringIO())
    console.print(RichMarkdown("```python\nprint(1)\n```", code_theme="monokai"))
