"""The offline model: a deterministic local chat model that streams tokens.

This module owns :class:`OfflineChatModel`, the default model of the app (no
network, no API key), and :class:`Chaos`, the switchboard that makes it fail
on purpose so recovery can be demonstrated live.

The model sees exactly what a real LLM sees: a system message carrying the
profile block (``graphs.profile.PROFILE_HEADER`` followed by ``- kind: value``
lines) and the Human/AI conversation. From that it answers honestly: who it
is, what it knows about the user, what was said in this conversation, and a
few canned shapes (code, lists, long text) so every feature of the app can be
shown with it. The same messages always give the same text.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from graphs.errors import TransientModelError
from graphs.extract import LANGUAGES, Statement, extract_statements, normalize_item
from graphs.history import SUMMARY_HEADER
from graphs.profile import PROFILE_HEADER

INTRO = "I'm the offline model — no network, no API key."
SWITCH_HINT = (
    "To talk to a real model, start the app with `--model openai:gpt-4o-mini` and set "
    "`OPENAI_API_KEY` (any OpenAI-compatible server works; point `OPENAI_BASE_URL` at it)."
)
_TOKEN = re.compile(r"\S+\s*|\s+")
_PROFILE_LINE = re.compile(r"^- ([\w:-]+): (.*)$")
_MAX_SCAN = 4000


@dataclass
class Chaos:
    """Failures to inject into the next calls (mutable: the model updates it).

    ``fail_next``: that many calls raise a transient 503 before any token.
    ``drop_stream_after``: the next stream ends after that many tokens without
    a finish reason (then resets, so the retry succeeds).
    ``kill_after_tokens``: the process SIGKILLs itself after that many tokens.
    """

    fail_next: int = 0
    drop_stream_after: int = 0
    kill_after_tokens: int = 0


# --------------------------------------------------------------------------
# What the model knows: the profile block plus what this message says
# --------------------------------------------------------------------------


@dataclass
class _Known:
    name: str = ""
    location: str = ""
    job: str = ""
    likes: list[str] = field(default_factory=list)
    dislikes: list[str] = field(default_factory=list)
    prefs: dict[str, str] = field(default_factory=dict)
    facts: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (
            self.name
            or self.location
            or self.job
            or self.likes
            or self.dislikes
            or self.prefs
            or self.facts
        )

    @property
    def short(self) -> bool:
        return "short" in self.prefs.get("length", "")

    @property
    def bullets(self) -> bool:
        return "bullet" in self.prefs.get("format", "")

    def add(self, kind: str, value: str, aspect: str = "") -> None:
        value = value.strip()
        if not value:
            return
        if kind in ("name", "location", "job"):
            setattr(self, kind, value)
        elif kind in ("like", "dislike"):
            mine, other = (
                (self.likes, self.dislikes) if kind == "like" else (self.dislikes, self.likes)
            )
            norm = normalize_item(value)
            other[:] = [v for v in other if normalize_item(v) != norm]
            if norm not in {normalize_item(v) for v in mine}:
                mine.append(value)
        elif kind == "preference":
            self.prefs[aspect or _aspect(value)] = value
        elif value not in self.facts:
            self.facts.append(value)


def _aspect(value: str) -> str:
    """Which preference a profile line is about (the block has no keys)."""
    v = value.lower()
    if v in LANGUAGES:
        return "language"
    if re.search(r"short|brief|concise|detailed|long|thorough", v):
        return "length"
    if "emoji" in v:
        return "emoji"
    if re.search(r"bullet|numbered|table|plain text|markdown|heading|code block|list", v):
        return "format"
    if re.search(r"metric|imperial", v):
        return "units"
    if re.search(r"formal|casual|friendly|polite|direct|blunt|funny|serious|professional", v):
        return "tone"
    return v


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "".join(parts)


def _known(messages: Sequence[BaseMessage], earlier: Sequence[str]) -> _Known:
    """The profile block, over what earlier messages of this thread said.

    The profile wins: it is newer (the app writes it after every turn) and the
    person may have edited it by hand.
    """
    known = _Known()
    for text in earlier[-50:]:
        _learn(known, extract_statements(text))
    for m in messages:
        text = _text(m) if isinstance(m, SystemMessage) else ""
        if PROFILE_HEADER not in text:
            continue
        # The summary of older messages follows the profile; its lines are not facts.
        text = text.split(SUMMARY_HEADER, 1)[0]
        for line in text.split(PROFILE_HEADER, 1)[1].splitlines():
            mm = _PROFILE_LINE.match(line.strip())
            if mm:
                known.add(mm.group(1), mm.group(2))
    return known


def _learn(known: _Known, statements: list[Statement]) -> None:
    for st in statements:
        aspect = st.key.split(":", 1)[1] if st.kind == "preference" and ":" in st.key else ""
        known.add(st.kind, st.value, aspect)


# --------------------------------------------------------------------------
# Phrasing helpers
# --------------------------------------------------------------------------


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _job_phrase(job: str) -> str:
    """'teacher' -> 'work as a teacher'; 'works at Acme' -> 'work at Acme'."""
    if job.lower().startswith("works "):
        return "work " + job[6:]
    if job.lower() in ("retired", "unemployed", "self-employed", "between jobs"):
        return f"are {job}"
    return f"work as {_a(job)}"


def _fact_phrase(fact: str) -> str:
    """A profile fact in the second person: 'has a dog' -> 'you have a dog'."""
    low = fact.lower()
    if low.startswith("has "):
        return "you have " + fact[4:]
    if low.startswith("speaks "):
        return "you speak " + fact[7:]
    if low.startswith("doesn't "):
        return "you don't " + fact[8:]
    if low.startswith("birthday "):
        return "your " + fact
    return "you're " + fact


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _quote(text: str, limit: int = 120) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --------------------------------------------------------------------------
# Intents
# --------------------------------------------------------------------------


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_IDENTITY = _rx(
    r"\b(?:who|what)\s+(?:are|r)\s+(?:you|u)\b|\bare\s+(?:you|u)\s+(?:a\s+|an\s+|the\s+)?"
    r"(?:real|human|a person|chatgpt|gpt|openai|claude|gemini|llama|ai|bot|robot|llm|"
    r"language model|offline|online|connected|model)\b|\bwhich\s+model\b|\bwhat\s+model\b|"
    r"\byour\s+name\b|\bwho\s+(?:made|built|created)\s+you\b|\bare\s+you\s+online\b|"
    r"\bis\s+this\s+(?:chatgpt|gpt|a real model|real)\b"
)
_HELP = _rx(
    r"^\s*(?:/?help|\?|commands|what can you do|what can i do|how does this work|"
    r"what do you do|how do i use (?:this|you))\s*[?!.]*\s*$|\bwhat can you do\b"
)
_ASK_NAME = _rx(
    r"\b(?:what's|whats|what\s+is|do\s+you\s+(?:know|remember)|tell\s+me)\s+my\s+name\b|"
    r"\bwho\s+am\s+i\b|\bwhat\s+am\s+i\s+called\b|\bdo\s+you\s+know\s+who\s+i\s+am\b"
)
_ASK_LOCATION = _rx(
    r"\bwhere\s+(?:do|did)\s+i\s+(?:live|come\s+from|stay)\b|\bwhere\s+am\s+i\s+"
    r"(?:from|based|living)\b|\bwhere(?:'s|\s+is)\s+my\s+home\b|\bwhat\s+city\b.*\bi\b"
)
_ASK_JOB = _rx(
    r"\bwhat\s+do\s+i\s+do(?:\s+for\s+(?:a\s+)?(?:living|work))?\s*[?.!]*$|"
    r"\bwhat(?:'s|\s+is)\s+my\s+(?:job|work|occupation|profession)\b|"
    r"\bwhere\s+do\s+i\s+work\b|\bwhat\s+(?:do\s+i\s+do|is\s+my\s+job)\s+for\s+work\b"
)
_ASK_FAVOURITE = _rx(r"\bwhat(?:'s|\s+is|\s+are)\s+my\s+favou?rite\s+(?P<what>[\w' -]+?)\s*\??$")
_ASK_DO_I_LIKE = _rx(r"\bdo\s+i\s+(?:like|love|enjoy|hate|dislike)\s+(?P<item>[^?]+)")
_ASK_LIKES = _rx(
    r"\bwhat\s+(?:do\s+i|things\s+do\s+i)\s+(?:like|love|enjoy)\b|"
    r"\bwhat\s+(?:are\s+)?my\s+(?:likes|hobbies|interests|tastes)\b|"
    r"\bwhat\s+(?:do\s+i\s+(?:hate|dislike)|don't\s+i\s+like)\b"
)
_ASK_PREFS = _rx(
    r"\bwhat\s+are\s+my\s+preferences\b|\bhow\s+do\s+i\s+(?:like|want|prefer)\s+"
    r"(?:my\s+|your\s+)?(?:answers|replies)\b"
)
_ASK_ABOUT_ME = _rx(
    r"\bwhat\s+do\s+you\s+(?:know|remember)\s+about\s+me\b|\btell\s+me\s+about\s+myself\b|"
    r"\bwhat\s+have\s+you\s+learn(?:ed|t)\b|\bwhat(?:'s|\s+is)\s+in\s+my\s+profile\b|"
    r"\bwhat\s+do\s+you\s+know\s+about\s+me\b|\bshow\s+(?:me\s+)?my\s+profile\b"
)
_ASK_FIRST = _rx(
    r"\bwhat\s+(?:was|were)\s+my\s+(?:very\s+)?first\s+(?:message|question|words?)\b|"
    r"\bwhat\s+did\s+i\s+(?:say|ask|write)\s+first\b|\bwhat\s+did\s+i\s+first\s+(?:say|ask)\b|"
    r"\bhow\s+did\s+(?:i|we)\s+start\b"
)
_ASK_LAST = _rx(
    r"\bwhat\s+did\s+i\s+(?:just\s+)?(?:say|ask|write)\s+(?:last|before\s+this|just\s+now|"
    r"a\s+moment\s+ago)\b|\bwhat\s+did\s+i\s+just\s+(?:say|ask|write)\b|"
    r"\bwhat\s+was\s+my\s+(?:last|previous)\s+(?:message|question)\b"
)
_ASK_EARLIER = _rx(
    r"\bwhat\s+did\s+i\s+(?:say|ask|write|tell\s+you|mention)\s*(?:to\s+you\s+)?"
    r"(?:earlier|before|previously|so\s+far)?\b|\bwhat\s+have\s+i\s+(?:said|asked|told\s+you)\b"
)
_ASK_SUMMARY = _rx(
    r"\b(?:summari[sz]e|summary\s+of|recap|sum\s+up)\b.*\b(?:conversation|chat|discussion|"
    r"thread|so\s+far|this)\b|\bwhat\s+(?:have\s+we|did\s+we)\s+(?:talk(?:ed)?|discuss(?:ed)?)"
    r"\b|^\s*(?:summary|summari[sz]e|recap)\s*[?!.]*\s*$"
)
_ASK_COUNT = _rx(
    r"\bhow\s+many\s+(?:messages|questions|turns|times)\b|\bcount\s+(?:the\s+|our\s+)?"
    r"messages\b"
)
_CODE = _rx(
    r"\b(?:code|function|script|snippet|program|implement|python|javascript|regex|"
    r"algorithm|class|def|example|fibonacci|fizzbuzz|factorial|hello world)\b"
)
_LIST = _rx(
    r"\b(?:list|lists|steps|step\s+by\s+step|checklist|tips|ideas|bullet|bullets|options|"
    r"pros\s+and\s+cons|to-?do|plan|outline|suggestions)\b|^\s*how\s+(?:do|can|should)\s+i\b|"
    r"^\s*how\s+to\b"
)
_LONG = _rx(
    r"\b(?:story|long|longer|in\s+detail|detailed|essay|paragraphs?|elaborate|at\s+length|"
    r"tell\s+me\s+more|explain|lorem|scroll)\b"
)
_STORY = _rx(r"\b(?:story|tale|fable)\b")
_GREETING = _rx(
    r"^\s*(?:hi|hello|hey|hiya|howdy|yo|greetings|good\s+(?:morning|afternoon|evening)|"
    r"hi\s+there|hello\s+there|hey\s+there)\b"
)
_THANKS = _rx(r"\b(?:thanks|thank\s+you|thx|ty|cheers|much\s+appreciated)\b")
_BYE = _rx(r"^\s*(?:bye|goodbye|see\s+you|see\s+ya|good\s+night|later|cya)\b")
_HOW_ARE_YOU = _rx(r"\bhow\s+are\s+(?:you|u)\b|\bhow's\s+it\s+going\b")


# --------------------------------------------------------------------------
# Canned shapes: code, lists, long text
# --------------------------------------------------------------------------

_CODE_SNIPPETS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        _rx(r"\bfib"),
        "Here's an iterative Fibonacci generator:",
        'def fibonacci(n: int) -> list[int]:\n    """The first n Fibonacci numbers."""\n'
        "    numbers: list[int] = []\n    a, b = 0, 1\n    for _ in range(n):\n"
        "        numbers.append(a)\n        a, b = b, a + b\n    return numbers\n\n\n"
        "print(fibonacci(10))  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]",
    ),
    (
        _rx(r"\bfizz"),
        "Here's FizzBuzz:",
        'def fizzbuzz(n: int) -> str:\n    if n % 15 == 0:\n        return "FizzBuzz"\n'
        '    if n % 3 == 0:\n        return "Fizz"\n    if n % 5 == 0:\n        return "Buzz"\n'
        "    return str(n)\n\n\nfor i in range(1, 16):\n    print(fizzbuzz(i))",
    ),
    (
        _rx(r"\bfactorial"),
        "Here's a factorial function:",
        'def factorial(n: int) -> int:\n    """n! for n >= 0."""\n    if n < 0:\n'
        '        raise ValueError("n must be >= 0")\n    result = 1\n'
        "    for k in range(2, n + 1):\n        result *= k\n    return result\n\n\n"
        "print(factorial(5))  # 120",
    ),
    (
        _rx(r"\bsort"),
        "Here's a small merge sort:",
        "def merge_sort(items: list[int]) -> list[int]:\n    if len(items) <= 1:\n"
        "        return items\n    mid = len(items) // 2\n"
        "    left, right = merge_sort(items[:mid]), merge_sort(items[mid:])\n"
        "    merged: list[int] = []\n    while left and right:\n"
        "        merged.append((left if left[0] <= right[0] else right).pop(0))\n"
        "    return merged + left + right\n\n\nprint(merge_sort([5, 2, 9, 1, 5, 6]))",
    ),
    (
        _rx(r"\bprime"),
        "Here's a simple prime check:",
        "def is_prime(n: int) -> bool:\n    if n < 2:\n        return False\n"
        "    k = 2\n    while k * k <= n:\n        if n % k == 0:\n            return False\n"
        "        k += 1\n    return True\n\n\nprint([n for n in range(20) if is_prime(n)])",
    ),
)
_DEFAULT_CODE = (
    "def word_count(text: str) -> dict[str, int]:\n"
    '    """How many times each word appears in text."""\n'
    "    counts: dict[str, int] = {}\n"
    "    for word in text.lower().split():\n"
    '        word = word.strip(".,!?;:\\"\'")\n'
    "        if word:\n"
    "            counts[word] = counts.get(word, 0) + 1\n"
    "    return counts\n\n\n"
    "print(word_count({sample}))"
)


def _code_reply(text: str, known: _Known) -> str:
    other = re.search(
        r"\b(javascript|typescript|rust|java|go|golang|c\+\+|c#|ruby|php|kotlin|swift)\b",
        text,
        re.IGNORECASE,
    )
    lead = ""
    if other:
        lead = (
            f"I only have Python examples offline, so here's Python rather than {other.group(1)}. "
        )
    for rx, intro, code in _CODE_SNIPPETS:
        if rx.search(text):
            body = f"{lead}{intro}\n\n```python\n{code}\n```"
            break
    else:
        sample = repr(_quote(text, 60))
        body = (
            f"{lead}Here's an example in Python — a word counter, run on your own message:"
            f"\n\n```python\n{_DEFAULT_CODE.replace('{sample}', sample)}\n```"
        )
    if not known.short:
        body += (
            "\n\nIt's a fixed example (the offline model doesn't write new code), but it "
            "shows code highlighting; F6 (or y on a reply) copies the last code block. "
            "Ask for *fibonacci*, *fizzbuzz*, *factorial*, *sort* or *prime* for other snippets."
        )
    return body


def _topic(text: str) -> str:
    """The subject of a request, for echoing it back: 'steps to learn chess' -> 'learn chess'."""
    t = " ".join(text.split()).strip(" ?!.")
    t = re.sub(
        r"(?i)^(?:(?:please|can\s+you|could\s+you|give\s+me|make|write|show\s+me|me|a|an|"
        r"the|some|list|steps|checklist|tips|ideas|plan|outline|options|suggestions|to-?do)"
        r"(?:\s+(?:of|for|to|on|about))?\s+)+",
        "",
        t,
    )
    t = re.sub(r"(?i)^how\s+(?:do|can|should)\s+i\s+|^how\s+to\s+", "", t)
    return _quote(t, 60) or "your goal"


def _list_reply(text: str, known: _Known) -> str:
    topic = _topic(text)
    steps = [
        f"**Define the goal** — write down what “{topic}” means for you when it's done.",
        "**Break it down** — split it into steps small enough to finish in a sitting.",
        "**Order the steps** — do the ones that unblock others first.",
        "**Start small** — do the first step today, however rough.",
        "**Review** — look back after a few steps and adjust the plan.",
    ]
    if known.short:
        steps = steps[:3]
    body = f"Here's a generic plan for “{topic}”:\n\n"
    body += "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    if not known.short:
        body += (
            "\n\n- These are general steps, not expert advice: offline, I don't know the "
            "specifics of the topic.\n- A real model (`--model openai:gpt-4o-mini`) would "
            "give you a tailored list."
        )
    return body


def _story(known: _Known, short: bool) -> str:
    who = known.name or "Sam"
    where = known.location or "a small flat above a bakery"
    paragraphs = [
        "## The message that would not be lost",
        f"{who} was typing the longest message of the week in {where} when the laptop "
        "fan gave one last sigh and the screen went black. Half a thought, three good "
        "ideas and a joke about semicolons vanished into the dark — or so it seemed.",
        "When the machine came back, the terminal opened where it had left off. The "
        "conversation was there, every turn of it, as if someone had been keeping notes "
        "in the margin all along. The reply that had been streaming when the power died "
        "picked itself up and started again from the beginning, patient as a cat.",
        f"“Did you remember all that?” {who} asked. The assistant did not pretend to be "
        "clever. It said what it knew, and it knew what had been written down: each "
        "message saved before the next one began, each fact about its user kept in a "
        "small, tidy profile that could be read, corrected, or forgotten on request.",
        f"Later, {who} went back to an old point in the conversation and tried a "
        "different question, just to see. The old path stayed where it was; the new one "
        "branched off beside it like a second road through the same wood. Nothing was "
        "overwritten. Nothing was lost.",
        "And that, more or less, is the moral: good tools are the ones you stop worrying "
        "about. The end.",
    ]
    if short:
        return (
            paragraphs[1]
            + "\n\n*(Keeping it short, as you prefer — ask for a long story for the rest.)*"
        )
    return "\n\n".join(paragraphs)


def _long_reply(text: str, known: _Known) -> str:
    topic = _topic(re.sub(r"(?i)\b(?:explain|in\s+detail|at\s+length|elaborate\s+on)\b", "", text))
    paragraphs = [
        f"I can't explain “{topic}” for real — I'm the offline model, with no knowledge "
        "beyond this conversation and your profile. What I can do is give you a long, "
        "honest answer about how I work, which is handy for trying out streaming and "
        "scrolling.",
        "## How the offline model works",
        "Every reply is computed from two things only: the conversation in this thread and "
        "the profile block the app puts in the system message. A set of fixed rules looks "
        "at your latest message, decides what kind of answer fits — a greeting, a "
        "question about you, a recap, some code, a list — and writes it. The same "
        "conversation always gets the same reply, word for word.",
        "The reply is streamed token by token, with a small pause between words, exactly "
        "like a network model would stream it. That makes it useful for trying things "
        "that only matter while a reply is arriving: stopping it halfway, watching the "
        "view scroll, or seeing what happens if the stream is interrupted.",
        "What you tell me about yourself — your name, where you live, what you do, what "
        "you like — is picked up by simple patterns and stored in your profile by the "
        "app, not by me. Next time, the profile comes back in the system message, and "
        "that's how I can say your name in a brand-new conversation.",
        f"For real answers about “{topic}”, switch to a network model. " + SWITCH_HINT,
    ]
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------
# Answers about the user and the conversation
# --------------------------------------------------------------------------


def _ack(st: Statement, before: _Known) -> str:
    v = st.value
    if st.kind == "name":
        if before.name == v:
            return f"Yes, I know — you're {v}."
        if before.name:
            return f"Got it — I'll call you {v} from now on (instead of {before.name})."
        return f"Nice to meet you, {v}! I'll remember your name."
    if st.kind == "location":
        return f"Got it — you live in {v}."
    if st.kind == "job":
        return f"Got it — you {_job_phrase(v)}."
    if st.kind == "like":
        fav = re.match(r"^(.*) \((favourite .*)\)$", v)
        if fav:
            return f"Noted — your {fav.group(2)} is {fav.group(1)}."
        return f"Noted — you like {v}."
    if st.kind == "dislike":
        return f"Noted — you don't like {v}."
    if st.kind == "preference":
        aspect = st.key.split(":", 1)[-1]
        if aspect == "language":
            return (
                f"Noted — you'd like answers in {v}. I can only write English offline, "
                "but a real model will follow it."
            )
        if aspect == "length":
            return f"Noted — you prefer {v}."
        if aspect == "tone":
            return f"Noted — you'd like a {v} tone."
        return f"Noted — {v} from now on."
    return f"Got it — {_fact_phrase(v)}."


def _acks(statements: list[Statement], before: _Known) -> str:
    lines = [_ack(st, before) for st in statements]
    if len(lines) == 1:
        return lines[0]
    return "Got it, I'll remember all of that:\n\n" + "\n".join(
        f"- {line[0].upper()}{line[1:]}" for line in lines
    )


def _name_answer(known: _Known) -> str:
    if known.name:
        return f"Your name is {known.name}."
    return (
        "I don't know your name yet. Tell me — for example “my name is Alice” or "
        "“call me Al” — and I'll remember it."
    )


def _location_answer(known: _Known) -> str:
    if known.location:
        return f"You live in {known.location}."
    return "I don't know where you live yet. Tell me — for example “I live in Paris”."


def _job_answer(known: _Known) -> str:
    if known.job:
        return f"You {_job_phrase(known.job)}."
    return "I don't know what you do yet. Tell me — for example “I work as a nurse”."


def _likes_answer(known: _Known) -> str:
    parts: list[str] = []
    if known.likes:
        parts.append(f"You like {_join(known.likes)}.")
    if known.dislikes:
        parts.append(f"You don't like {_join(known.dislikes)}.")
    if not parts:
        return (
            "I don't know what you like yet. Tell me — for example “I love jazz” or "
            "“I can't stand mornings”."
        )
    return " ".join(parts)


def _do_i_like_answer(item: str, known: _Known) -> str:
    item = re.sub(r"(?i)\s+(?:or\s+not|at\s+all)$", "", item.strip(" ?!."))
    norm = normalize_item(item)
    if any(normalize_item(v) == norm for v in known.likes):
        return f"Yes — you told me you like {item}."
    if any(normalize_item(v) == norm for v in known.dislikes):
        return f"No — you told me you don't like {item}."
    return f"I don't know — you haven't told me whether you like {item}."


def _favourite_answer(what: str, known: _Known) -> str:
    what_norm = normalize_item(what)
    for v in known.likes:
        fav = re.match(r"^(.*) \(favourite (.*)\)$", v)
        if fav and normalize_item(fav.group(2)) == what_norm:
            return f"Your favourite {fav.group(2)} is {fav.group(1)}."
    return f"You haven't told me your favourite {what} yet — say “my favourite {what} is …”."


def _prefs_answer(known: _Known) -> str:
    if not known.prefs:
        return (
            "You haven't told me any preferences yet. Try “keep answers short”, "
            "“use bullet points” or “answer in French”."
        )
    return "Your preferences: " + _join(sorted(known.prefs.values())) + "."


def _about_me(known: _Known) -> str:
    if known.empty():
        return (
            "Nothing yet. Tell me about yourself — for example “my name is Alice” or "
            "“I live in Paris” — and I'll remember it across conversations."
        )
    rows: list[str] = []
    if known.name:
        rows.append(f"- **Name:** {known.name}")
    if known.location:
        rows.append(f"- **Lives in:** {known.location}")
    if known.job:
        rows.append(f"- **Work:** you {_job_phrase(known.job)}")
    if known.likes:
        rows.append(f"- **Likes:** {', '.join(known.likes)}")
    if known.dislikes:
        rows.append(f"- **Dislikes:** {', '.join(known.dislikes)}")
    if known.prefs:
        rows.append(f"- **Preferences:** {', '.join(sorted(known.prefs.values()))}")
    for fact in known.facts:
        phrase = _fact_phrase(fact)
        rows.append(f"- {phrase[0].upper()}{phrase[1:]}")
    return "Here's what I know about you:\n\n" + "\n".join(rows)


def _first_answer(earlier: list[str]) -> str:
    if not earlier:
        return "This is your first message in this conversation."
    return f"Your first message was:\n\n> {_quote(earlier[0], 300)}"


def _last_answer(earlier: list[str]) -> str:
    if not earlier:
        return "Nothing before this — it's your first message in this conversation."
    return f"Just before this, you said:\n\n> {_quote(earlier[-1], 300)}"


def _earlier_answer(earlier: list[str]) -> str:
    if not earlier:
        return "Nothing yet — this is your first message in this conversation."
    shown = earlier[-5:]
    start = len(earlier) - len(shown) + 1
    lines = [f"{i}. {_quote(t, 100)}" for i, t in enumerate(shown, start)]
    head = "Earlier you said:" if len(earlier) <= 5 else "Your last five messages before this:"
    return head + "\n\n" + "\n".join(lines)


def _count_answer(n_user: int, n_ai: int) -> str:
    return (
        f"This conversation has {_plural(n_user + n_ai, 'message')} so far: "
        f"{n_user} from you (counting this one) and {n_ai} from me."
    )


def _summary_answer(earlier: list[str], n_ai: int, known: _Known, n_sent: int = -1) -> str:
    """``earlier``: what is remembered of the messages before this one;
    ``n_sent``: how many there were (more than remembered once summarised)."""
    n_sent = len(earlier) if n_sent < 0 else n_sent
    if not earlier:
        return "There's nothing to summarise yet — this is your first message."
    lines = [f"- {_quote(t, 80)}" for t in earlier[:10]]
    if n_sent > 10:
        lines.append(f"- … and {n_sent - 10} more")
    body = (
        f"So far you've sent {_plural(n_sent, 'message')} before this one and I've "
        f"replied {_plural(n_ai, 'time')}. You said:\n\n" + "\n".join(lines)
    )
    if known.name:
        body += f"\n\nAnd I know you as {known.name}."
    return body


# --------------------------------------------------------------------------
# The reply
# --------------------------------------------------------------------------


def _help(known: _Known) -> str:
    rows = [
        "- **Remembers you** — “my name is Alice”, “I live in Paris”, “I love jazz”, "
        "“keep answers short”; then “what do you know about me?”",
        "- **Recalls this conversation** — “what was my first message?”, "
        "“summarize our conversation”, “how many messages?”",
        "- **Code** — “show me python code” (a highlighted block; F6 copies it)",
        "- **Lists** — “give me a list of steps to learn chess”",
        "- **Long answers** — “tell me a story” or “explain in detail” (to watch streaming "
        "and scrolling)",
    ]
    if known.short:
        rows = rows[:3]
    return (
        "Offline, I can do a handful of things, all without a network:\n\n"
        + "\n".join(rows)
        + "\n\nI can't answer general questions. "
        + SWITCH_HINT
    )


def _identity() -> str:
    return (
        "I'm the **offline model** built into this app: deterministic rules running on "
        "your machine, with no network and no API key. I'm not ChatGPT or any other large "
        "language model — I can't look things up or reason about the world. I can "
        "remember what you tell me about yourself, recall this conversation, and show "
        "off the app (streaming, code blocks, lists, long answers).\n\n" + SWITCH_HINT
    )


def _fallback(text: str, known: _Known, question: bool) -> str:
    words = len(text.split())
    if question:
        body = (
            "That's a question I can't answer offline — I only know this conversation and "
            "what you've told me about yourself."
        )
        tail = "Type “help” to see what I can do, or switch models. " + SWITCH_HINT
    else:
        body = f"You said: “{_quote(text, 160)}” ({_plural(words, 'word')})."
        tail = (
            "I'm the offline model, so I can't discuss that for real. Tell me something "
            "about yourself, ask what I know about you, or type “help”."
        )
    if known.short:
        return body
    if known.bullets:
        return f"- {body}\n- {tail}"
    return f"{body}\n\n{tail}"


_SUMMARY_COVERS = re.compile(rf"{re.escape(SUMMARY_HEADER)} \(its first (\d+) messages")
_SUMMARY_USER_LINE = re.compile(r"^- You: (.+)$", re.MULTILINE)


def _summarised(messages: Sequence[BaseMessage]) -> tuple[int, list[str]]:
    """How many older messages the prompt's summary stands for, and what it
    keeps of the person's (the first sentence of each, as the offline summary
    writes them)."""
    for m in messages:
        text = _text(m) if isinstance(m, SystemMessage) else ""
        found = _SUMMARY_COVERS.search(text)
        if found:
            block = text[found.start() :]
            return int(found.group(1)), _SUMMARY_USER_LINE.findall(block)
    return 0, []


def reply_for(messages: Sequence[BaseMessage]) -> str:
    """The full reply text for a prompt: deterministic, never raises on text content."""
    humans = [_text(m) for m in messages if isinstance(m, HumanMessage)]
    covered, summarised = _summarised(messages)
    # Turns alternate, so the summarised messages are half the person's.
    n_ai = sum(1 for m in messages if isinstance(m, AIMessage)) + covered // 2
    n_humans = len(humans) + covered - covered // 2
    text = humans[-1] if humans else ""
    earlier = humans[:-1]
    recalled = [*summarised, *earlier]
    scan = " ".join(text[:_MAX_SCAN].split())
    before = _known(messages, earlier)
    statements = extract_statements(text)
    known = _known(messages, earlier)
    _learn(known, statements)
    question = scan.endswith("?")

    parts: list[str] = []
    if statements:
        parts.append(_acks(statements, before))

    answer = ""
    if not scan:
        answer = "Your message was empty — type something, or “help” to see what I can do."
    elif _IDENTITY.search(scan):
        answer = _identity()
    elif _HELP.search(scan):
        answer = _help(known)
    elif _ASK_ABOUT_ME.search(scan):
        answer = _about_me(known)
    elif _ASK_NAME.search(scan):
        answer = _name_answer(known)
    elif _ASK_LOCATION.search(scan):
        answer = _location_answer(known)
    elif _ASK_JOB.search(scan):
        answer = _job_answer(known)
    elif m := _ASK_FAVOURITE.search(scan):
        answer = _favourite_answer(m.group("what"), known)
    elif _ASK_LIKES.search(scan):
        answer = _likes_answer(known)
    elif m := _ASK_DO_I_LIKE.search(scan):
        answer = _do_i_like_answer(m.group("item"), known)
    elif _ASK_PREFS.search(scan):
        answer = _prefs_answer(known)
    elif _ASK_SUMMARY.search(scan):
        answer = _summary_answer(recalled, n_ai, known, n_humans - 1)
    elif _ASK_COUNT.search(scan):
        answer = _count_answer(n_humans, n_ai)
    elif _ASK_FIRST.search(scan):
        answer = _first_answer(recalled)
    elif _ASK_LAST.search(scan):
        answer = _last_answer(earlier)
    elif _ASK_EARLIER.search(scan) and question:
        answer = _earlier_answer(earlier)
    elif _CODE.search(scan):
        answer = _code_reply(scan, known)
    elif _STORY.search(scan):
        explicit_long = re.search(r"(?i)\b(?:long|longer|in\s+detail|full)\b", scan)
        answer = _story(known, known.short and not explicit_long)
    elif _LONG.search(scan):
        answer = _long_reply(scan, known)
    elif _LIST.search(scan):
        answer = _list_reply(scan, known)
    elif _HOW_ARE_YOU.search(scan):
        answer = "I'm running fine, thanks — entirely on your machine. How can I help?"
    elif _GREETING.search(scan):
        if not any(st.kind == "name" for st in statements):
            hello = f"Hello, {known.name}!" if known.name else "Hello!"
            answer = f"{hello} How can I help? Type “help” to see what I can do offline."
    elif _THANKS.search(scan):
        answer = "You're welcome!"
    elif _BYE.search(scan):
        answer = "Bye! Come back any time."
    elif not statements:
        answer = _fallback(scan, known, question)

    if answer:
        parts.append(answer)
    if not parts:
        parts.append("Anything else? Type “help” to see what I can do offline.")
    if n_ai == 0 and answer != _identity():
        parts.insert(0, INTRO)
    return "\n\n".join(parts)


def tokens(text: str) -> list[str]:
    """Words with their trailing whitespace; joined back they give ``text`` exactly."""
    return _TOKEN.findall(text)


class OfflineChatModel(BaseChatModel):
    """Answers from the conversation and the profile, with no network."""

    token_delay_s: float = 0.0
    chaos: Chaos | None = None

    @property
    def _llm_type(self) -> str:
        return "offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": "offline"}

    def reply_text(self, messages: list[BaseMessage]) -> str:
        return reply_for(messages)

    def _maybe_fail(self) -> None:
        if self.chaos is not None and self.chaos.fail_next > 0:
            self.chaos.fail_next -= 1
            raise TransientModelError(
                "simulated outage (chaos): the model is unavailable", status=503
            )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._maybe_fail()
        text = self.reply_text(messages)
        if self.chaos is not None and self.chaos.kill_after_tokens > 0:
            os.kill(os.getpid(), signal.SIGKILL)
        msg = AIMessage(
            content=text,
            id=str(uuid.uuid4()),
            response_metadata={"finish_reason": "stop", "model_name": "offline"},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        """The reply's chunks with chaos applied; the caller paces them."""
        self._maybe_fail()
        drop_after = 0
        kill_after = 0
        if self.chaos is not None:
            # Reset now, not when the stream ends: the consumer may abandon it.
            drop_after, self.chaos.drop_stream_after = self.chaos.drop_stream_after, 0
            kill_after = self.chaos.kill_after_tokens
        msg_id = str(uuid.uuid4())
        for n, tok in enumerate(tokens(self.reply_text(messages)), 1):
            yield ChatGenerationChunk(message=AIMessageChunk(content=tok, id=msg_id))
            if kill_after and n >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            if drop_after and n >= drop_after:
                return
        if drop_after:
            return
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                id=msg_id,
                response_metadata={"finish_reason": "stop", "model_name": "offline"},
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for n, chunk in enumerate(self._chunks(messages), 1):
            tok = chunk.text
            if tok and self.token_delay_s > 0 and n > 1:
                time.sleep(self.token_delay_s)
            if tok and run_manager is not None:
                run_manager.on_llm_new_token(tok, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        # Native async: without it LangChain runs the sync stream in an
        # executor thread, one hop per token.
        for n, chunk in enumerate(self._chunks(messages), 1):
            tok = chunk.text
            if tok and self.token_delay_s > 0 and n > 1:
                await asyncio.sleep(self.token_delay_s)
            if tok and run_manager is not None:
                await run_manager.on_llm_new_token(tok, chunk=chunk)
            yield chunk
