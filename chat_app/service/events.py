"""What the service tells its callers: plain data, no widgets.

A turn is a stream of events; the UI renders them and the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from graphs.facts import ProfileFact


@dataclass(frozen=True)
class ChatMessage:
    id: str
    role: str  # "user" | "assistant"
    text: str
    # "" for a normal message, "stopped" when the person stopped the reply.
    status: str = ""


class ThreadInfo(NamedTuple):
    """One row of the thread list (a named tuple: 10,000 of them are built
    for the sidebar, several times faster than frozen dataclasses)."""

    id: str
    title: str
    created_at: float
    updated_at: float
    message_count: int
    # True while a reply was being written and did not finish (crash, failure).
    interrupted: bool = False


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint, from metadata only (no state is deserialized)."""

    id: str
    parent_id: str | None
    step: int
    source: str
    created_at: float
    # "user" | "assistant" | "rewind" | "" (an intermediate step)
    kind: str = ""
    summary: str = ""
    profile_updated: bool = False
    # Tokens of the reply written at this checkpoint (the request, the reply),
    # as the server counted them or estimated for the offline model.
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class History:
    """All checkpoints of a thread (oldest first) and the current branch."""

    thread_id: str
    checkpoints: list[CheckpointInfo]
    head_id: str | None
    branch_ids: frozenset[str] = field(default_factory=frozenset)
    # False: only the newest checkpoints were read (earlier ones exist).
    complete: bool = True

    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for cp in self.checkpoints:
            if cp.parent_id:
                out.setdefault(cp.parent_id, []).append(cp.id)
        return out


@dataclass(frozen=True)
class UserMessageSaved:
    """The person's message is on disk (acknowledged)."""

    thread_id: str
    message: ChatMessage


@dataclass(frozen=True)
class Token:
    thread_id: str
    text: str


@dataclass(frozen=True)
class Retrying:
    thread_id: str
    attempt: int  # the attempt about to be made (2 = first retry)
    max_attempts: int
    delay_s: float
    reason: str


@dataclass(frozen=True)
class ThreadBusy:
    """Another window is writing to this thread; this send waits for it."""

    thread_id: str


@dataclass(frozen=True)
class ReplyFinished:
    thread_id: str
    message: ChatMessage


@dataclass(frozen=True)
class ReplyFailed:
    """The reply could not be produced; the user's message is kept.

    ``can_retry``: the turn is still pending and `resume` may finish it.
    """

    thread_id: str
    reason: str
    can_retry: bool
    partial: str = ""


@dataclass(frozen=True)
class ProfileUpdated:
    facts: list[ProfileFact]


@dataclass(frozen=True)
class ProfileNotUpdated:
    """The reply is saved but what the message said about the person was not
    read (the model failed); it is tried again at the next turn."""

    thread_id: str
    reason: str


@dataclass(frozen=True)
class HistorySummary:
    """The running summary at a thread's head: what the model is told of the
    ``covers`` oldest messages, which no longer fit in its requests."""

    text: str
    covers: int
    # "model" or "rules" (extractive: the offline model, or a stand-in).
    by: str


@dataclass(frozen=True)
class SummaryMark:
    """Where the chat marks the end of what the running summary stands for:
    after the message ``through`` (the last of the ``covers`` oldest ones)."""

    through: str
    covers: int


@dataclass(frozen=True)
class ThreadChanged:
    """Title, count or time of a thread changed."""

    thread: ThreadInfo


Event = (
    UserMessageSaved
    | Token
    | Retrying
    | ThreadBusy
    | ReplyFinished
    | ReplyFailed
    | ProfileUpdated
    | ProfileNotUpdated
    | ThreadChanged
)
