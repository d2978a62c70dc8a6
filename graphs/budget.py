"""How many tokens a turn's request may use: the model's context and a reply reserve.

A request holds the system prompt, the profile, the running summary and as
many recent messages as fit in ``context - reply``. Well-known model names
get their published context size; an unknown server gets a conservative
8,192 (a request that is too large is refused by the server, and a thread
that grew past it could never be answered again). The offline model gets a
deliberately small budget so that trimming and summarising can be seen in a
demo and exercised by tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_CONTEXT_TOKENS = 8_192
OFFLINE_CONTEXT_TOKENS = 2_000
OFFLINE_REPLY_TOKENS = 500
# A larger window is not filled by default: a million-token request on every
# turn costs dollars and seconds, and older turns are in the summary anyway.
# ``model.context_tokens`` raises it for a model that should use more.
DEFAULT_CAP_TOKENS = 128_000
SUMMARY_CAP_TOKENS = 1_000

# (pattern on the model name without the "openai:" prefix, context tokens),
# first match wins: more specific names come first.
_KNOWN_CONTEXT: tuple[tuple[str, int], ...] = (
    (r"gpt-4\.1", 1_047_576),
    (r"gpt-4o", 128_000),
    (r"gpt-4-turbo|gpt-4-\d{4}-preview", 128_000),
    (r"gpt-4-32k", 32_768),
    (r"gpt-4", 8_192),
    (r"gpt-3\.5-turbo-instruct", 4_096),
    (r"gpt-3\.5-turbo", 16_385),
    (r"gpt-5", 400_000),
    (r"o1-mini", 128_000),
    (r"o[134]", 200_000),
    (r"llama-?3\.[1-3]|llama-?4", 131_072),
    (r"llama-?3", 8_192),
    (r"llama-?2", 4_096),
    (r"qwen3", 40_960),
    (r"qwen2\.5|qwen2", 32_768),
    (r"qwen", 32_768),
    (r"mistral-large|mistral-nemo|mistral-small", 128_000),
    (r"mixtral", 32_768),
    (r"mistral", 32_768),
    (r"gemma-?3", 131_072),
    (r"gemma", 8_192),
    (r"phi-?3\.5|phi-?4", 16_384),
    (r"phi", 4_096),
    (r"deepseek", 65_536),
    (r"claude", 200_000),
)


@dataclass(frozen=True)
class ContextBudget:
    """Tokens of one request: ``context`` in all, ``reply`` of them kept for the answer."""

    context: int
    reply: int

    @property
    def prompt(self) -> int:
        """What the request itself may use."""
        return max(1, self.context - self.reply)

    @property
    def summary(self) -> int:
        """The most the running summary may take of the prompt.

        Capped: the summary is a plain channel, so every checkpoint of the
        thread (four a turn) holds a copy of it.
        """
        return max(64, min(self.prompt // 5, SUMMARY_CAP_TOKENS))


def known_context_tokens(model: str) -> int:
    """The context size of a well-known model name, else the conservative default."""
    name = model.split(":", 1)[1] if model.startswith("openai:") else model
    # Names often carry a vendor path or tag: "meta-llama/Llama-3.1-8B", "qwen2.5:7b".
    name = name.lower().rsplit("/", 1)[-1]
    for pattern, tokens in _KNOWN_CONTEXT:
        # At the start of the name or of one of its parts ("meta-llama-3.1-8b").
        if re.search(rf"(?:^|[^a-z0-9]){pattern}", name):
            return tokens
    return DEFAULT_CONTEXT_TOKENS


def context_budget(model: str, context_tokens: int = 0, reply_tokens: int = 0) -> ContextBudget:
    """The budget for ``model`` ("offline" or "openai:<name>"); 0 means the default."""
    if model == "offline":
        context = context_tokens or OFFLINE_CONTEXT_TOKENS
        reply = reply_tokens or min(OFFLINE_REPLY_TOKENS, context // 4)
    else:
        context = context_tokens or min(known_context_tokens(model), DEFAULT_CAP_TOKENS)
        reply = reply_tokens or min(4_096, context // 4)
    return ContextBudget(context=context, reply=min(reply, context - 1))
