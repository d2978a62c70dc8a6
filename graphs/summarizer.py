"""The running summary written by a real model (see :mod:`graphs.history`).

One non-streaming request folds the messages that fell out of the window
into the summary so far. Its input is bounded by the same budget as a turn:
when more messages fell out than fit (the first summary of a long thread
that predates summaries), the older ones go in as one extractive line each.
Errors are classified like a reply's, so the caller's retry layer treats
them alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from graphs.budget import ContextBudget
from graphs.errors import TransientModelError, classify
from graphs.history import (
    Summarizer,
    cap_lines,
    count_tokens,
    extractive_lines,
    extractive_summary,
    fit_last,
)

SUMMARY_PROMPT = """\
You keep the running summary of a conversation between a user and an \
assistant, for the assistant to read when the older messages are no longer \
shown. Merge the new messages into the summary so far. Keep what matters \
later: what the user said about themself, their goals and decisions, names, \
numbers, open questions and what was agreed. Drop small talk. Write plain \
sentences in the conversation's language, at most {words} words, and reply \
with the summary only."""
# What the instructions and the framing of the request take, in tokens.
_OVERHEAD = 300


def non_streaming(model: BaseChatModel) -> BaseChatModel:
    """The same model answering in one piece (no token stream needed)."""
    if getattr(model, "streaming", False):
        copied: Any = model.model_copy(update={"streaming": False})
        return copied  # type: ignore[no-any-return]
    return model


def model_summarizer(model: BaseChatModel, budget: ContextBudget) -> Summarizer:
    target = non_streaming(model)

    def summarize(
        previous: str, dropped: Sequence[BaseMessage], max_tokens: int
    ) -> tuple[str, str]:
        room = budget.prompt - _OVERHEAD - max_tokens - count_tokens([HumanMessage(previous)])
        fit = fit_last(dropped, room)
        older = dropped[: len(dropped) - len(fit)]
        prior = previous
        if older:
            prior = cap_lines([*previous.splitlines(), *extractive_lines(older)], max_tokens)
        transcript = "\n\n".join(
            f"{'User' if isinstance(m, HumanMessage) else 'Assistant'}: {m.text}" for m in fit
        )
        request = [
            SystemMessage(SUMMARY_PROMPT.format(words=max(50, max_tokens * 3 // 4))),
            HumanMessage(f"Summary so far:\n{prior or '(none)'}\n\nNew messages:\n{transcript}"),
        ]
        try:
            result = target.invoke(request)
        except Exception as exc:
            raise classify(exc) from exc
        text = result.text.strip()
        if not text:
            raise TransientModelError("the model returned an empty summary")
        limit = max_tokens * 4
        if len(text) > limit:
            text = text[: limit - 1].rstrip() + "…"
        return text, "model"

    return summarize


def summarizer_for(model: BaseChatModel, budget: ContextBudget) -> Summarizer:
    """The offline model's summary is extractive; any other model writes its own."""
    from graphs.offline import OfflineChatModel

    if isinstance(model, OfflineChatModel):
        return extractive_summary
    return model_summarizer(model, budget)
