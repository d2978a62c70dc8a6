"""What of a long thread goes into a turn's request: a window and a running summary.

A request is the system prompt (with the profile), the running summary of
the messages that no longer fit, and the newest messages that do, counted
with LangChain's offline approximate counter against the model's budget
(:mod:`graphs.budget`). The window always starts at a person's message, so
a reply (and any tool message with it) is never cut from what it answers.

The summary lives in the ``history_summary`` channel of the thread's state,
so a rewind or a fork sees the summary of its own branch. It is rewritten
only when the messages after it no longer fit: it then takes in everything
but the newest half-window, so the next many turns fit again without a new
summary. It records how many messages it covers and the id of the last one,
and a summary that does not match the messages it sits with is not used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately, trim_messages

from graphs.budget import ContextBudget

SUMMARY_HEADER = "Summary of the earlier conversation"
# How many of a summary's first lines an extractive summary always keeps:
# the start of a conversation is what "what did I say first?" asks about.
_HEAD_LINES = 6
_LINE_CHARS = 100
_CHARS_PER_TOKEN = 4


class HistorySummary(TypedDict):
    """The value of the ``history_summary`` channel."""

    text: str
    # How many of the thread's first messages it stands for, and the last one's id.
    covers: int
    through: str
    # "model" or "rules" (the extractive summary of the offline model, or a fallback).
    by: str


# (summary so far, messages to add, most tokens) -> (new summary text, "model" or "rules")
Summarizer = Callable[[str, Sequence[BaseMessage], int], tuple[str, str]]


def count_tokens(messages: Sequence[BaseMessage]) -> int:
    return count_tokens_approximately(messages)


def valid_summary(value: Any, messages: Sequence[BaseMessage]) -> HistorySummary | None:
    """The stored summary if it belongs to these messages, else None."""
    if not isinstance(value, dict):
        return None
    covers = value.get("covers")
    text = value.get("text")
    if not isinstance(covers, int) or not isinstance(text, str) or not text:
        return None
    if covers <= 0 or covers > len(messages) or messages[covers - 1].id != value.get("through"):
        return None
    return HistorySummary(
        text=text, covers=covers, through=str(value.get("through")), by=str(value.get("by", ""))
    )


def summary_block(summary: HistorySummary | None) -> str:
    """The summary as a section of the system prompt (the offline model parses it)."""
    if summary is None:
        return ""
    return (
        f"{SUMMARY_HEADER} (its first {summary['covers']} messages, no longer shown in full):\n"
        + summary["text"]
    )


def fit_last(messages: Sequence[BaseMessage], max_tokens: int) -> list[BaseMessage]:
    """The newest messages that fit in ``max_tokens``, starting at a person's message."""
    if max_tokens <= 0 or not messages:
        return []
    # Only the newest messages can fit: trim_messages searches what it is
    # given, and a 10,000-message thread would be counted over and over.
    start, total = len(messages), 0
    while start > 0 and total <= max_tokens:
        start -= 1
        total += count_tokens_approximately([messages[start]])
    return trim_messages(
        list(messages[start:]),
        max_tokens=max_tokens,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        include_system=False,
        allow_partial=False,
    )


def _fits(messages: Sequence[BaseMessage], max_tokens: int) -> bool:
    """Whether all of ``messages`` fit, counting from the newest and stopping early."""
    total = 0
    for m in reversed(messages):
        total += count_tokens_approximately([m])
        if total > max_tokens:
            return False
    return True


def clip(text: str, max_tokens: int) -> str:
    """``text`` cut to about ``max_tokens`` (its start kept, the cut marked)."""
    chars = max(0, max_tokens * _CHARS_PER_TOKEN)
    return text if len(text) <= chars else text[: max(0, chars - 16)] + " […cut to fit…]"


def _cut(message: BaseMessage, max_tokens: int) -> BaseMessage:
    """A copy of one message too long for the whole window, cut to fit (its start kept)."""
    chars = max(0, (max_tokens - 8) * _CHARS_PER_TOKEN)
    text = message.text
    if len(text) <= chars:
        return message
    return message.model_copy(update={"content": text[:chars] + " […cut to fit…]"})


@dataclass
class Request:
    """One turn's request, and the new summary to store when one was written."""

    messages: list[BaseMessage]
    new_summary: HistorySummary | None


def plan_request(
    messages: Sequence[BaseMessage],
    stored: Any,
    budget: ContextBudget,
    system: Callable[[str], str],
    summarize: Summarizer,
) -> Request:
    """The system message and the window that fit ``budget``; summarise when they do not.

    ``system(block)`` renders the whole system prompt around a summary block.
    """
    summary = valid_summary(stored, messages)
    covers = summary["covers"] if summary is not None else 0
    head = SystemMessage(system(summary_block(summary)))
    room = budget.prompt - count_tokens([head])
    tail = list(messages[covers:])
    if _fits(tail, room):
        return Request([head, *tail], None)
    # Summarise all but the newest half of the room, so that the next turns
    # fit again without another summary.
    keep = fit_last(tail, room // 2) or fit_last(tail, room)
    if keep:
        new_covers = len(messages) - len(keep)
    else:
        last_human = max(
            (i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0
        )
        new_covers = max(covers, last_human)
    new: HistorySummary | None = None
    if new_covers > covers:
        text, by = summarize(
            summary["text"] if summary else "", messages[covers:new_covers], budget.summary
        )
        new = HistorySummary(
            text=text, covers=new_covers, through=str(messages[new_covers - 1].id), by=by
        )
        head = SystemMessage(system(summary_block(new)))
        room = budget.prompt - count_tokens([head])
    window = fit_last(messages[new_covers:], room)
    if not window:
        # One message too long for the whole window: its start is sent.
        window = [_cut(m, room) for m in messages[new_covers:][-1:]]
    return Request([head, *window], new)


# -- the extractive summary (offline model, and the fallback) ------------------------


def first_sentence(text: str, limit: int = _LINE_CHARS) -> str:
    flat = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(?:\s|$)", flat)
    sentence = m.group(1) if m else flat
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def extractive_lines(messages: Sequence[BaseMessage]) -> list[str]:
    """One line per message: who, and the first sentence of what they wrote."""
    lines: list[str] = []
    for m in messages:
        who = "You" if isinstance(m, HumanMessage) else "Assistant"
        if not isinstance(m, HumanMessage | AIMessage):
            continue
        sentence = first_sentence(m.text)
        if sentence:
            lines.append(f"- {who}: {sentence}")
    return lines


_OMITTED = re.compile(r"^- … \(\d+ lines? omitted\)$")


def cap_lines(lines: list[str], max_tokens: int) -> str:
    """The first lines and as many of the newest as fit, with a marker for the rest."""
    lines = [line for line in lines if not _OMITTED.match(line)]
    limit = max_tokens * _CHARS_PER_TOKEN

    def size(part: list[str]) -> int:
        return sum(len(x) + 1 for x in part)

    if size(lines) <= limit:
        return "\n".join(lines)
    head = lines[:_HEAD_LINES]
    while head and size(head) > limit // 2:
        head.pop()
    newest: list[str] = []
    room = limit - size(head) - 40
    for line in reversed(lines[len(head) :]):
        if size(newest) + len(line) + 1 > room:
            break
        newest.insert(0, line)
    omitted = len(lines) - len(head) - len(newest)
    return "\n".join([*head, f"- … ({omitted} line{'s' if omitted != 1 else ''} omitted)", *newest])


def extractive_summary(
    previous: str, dropped: Sequence[BaseMessage], max_tokens: int
) -> tuple[str, str]:
    """The summary so far plus a line per dropped message, capped: no model needed."""
    lines = [*previous.splitlines(), *extractive_lines(dropped)]
    return cap_lines(lines, max_tokens), "rules"
