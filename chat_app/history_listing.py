"""`chat-app history`: a thread's entries, on the current branch or on every branch.

Every line carries the checkpoint id `chat-app rewind` takes, when, and who
said what; ``--all`` lists each branch under its own heading, the current one
first, each down to where it forks from a branch listed before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chat_app.safe_text import echo, json_for_terminal, one_line
from chat_app.service.events import CheckpointInfo, History

if TYPE_CHECKING:
    from chat_app.service import ChatService


@dataclass
class Branch:
    """One branch: its entries newest first, down to where it forks off."""

    number: int
    end: CheckpointInfo
    current: bool
    entries: list[CheckpointInfo] = field(default_factory=list)
    forks_from: CheckpointInfo | None = None  # the last checkpoint it shares


def _in_conversation(path: list[CheckpointInfo], i: int, steps: bool) -> bool:
    cp = path[i]
    if not cp.kind:
        return steps
    # A message whose reply went down another branch (a rewind to before it,
    # an edit) is not part of this branch's conversation.
    older = path[i - 1] if i > 0 else None
    return not (cp.kind == "user" and older is not None and older.source in ("input", "update"))


def branches(hist: History, *, steps: bool = False) -> list[Branch]:
    """Every branch of the thread; ``steps`` keeps the intermediate checkpoints."""
    by_id = {c.id: c for c in hist.checkpoints}
    parents = {c.parent_id for c in hist.checkpoints if c.parent_id}
    leaves = [c for c in hist.checkpoints if c.id not in parents]
    if hist.head_id in by_id and hist.head_id in parents:
        # The branch shown ends mid-tree (chosen there): it is a branch too.
        leaves.append(by_id[hist.head_id])
    # The current branch first, then the most recently extended.
    leaves.sort(key=lambda c: (c.id not in hist.branch_ids, -c.created_at, c.id))
    listed: set[str] = set()
    out: list[Branch] = []
    for n, leaf in enumerate(leaves, 1):
        path: list[CheckpointInfo] = []  # newest first
        cur: CheckpointInfo | None = leaf
        while cur is not None and cur.id not in listed:
            path.append(cur)
            cur = by_id.get(cur.parent_id or "")
        if cur is not None and cur.kind == "user" and path and path[-1].source == "loop":
            # Forked at a message that was answered here: the message belongs
            # to this branch's conversation, and the fork is just before it.
            path.append(cur)
            cur = by_id.get(cur.parent_id or "")
        branch = Branch(n, leaf, leaf.id == hist.head_id, forks_from=cur)
        branch.entries = [c for i, c in enumerate(path) if _in_conversation(path, i, steps)]
        listed.update(c.id for c in path)
        out.append(branch)
    return out


def _line(cp: CheckpointInfo) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(cp.created_at))
    label = cp.summary or f"({cp.source or 'step'})"
    extra = "  [profile updated]" if cp.profile_updated else ""
    if cp.input_tokens is not None:
        extra += f"  [{cp.input_tokens:,} tokens in, {cp.output_tokens or 0:,} out]"
    return f"{cp.id}  {when}  {one_line(label, 70)}{extra}"


def print_history(
    service: ChatService, thread_id: str, *, every_branch: bool, steps: bool, as_json: bool
) -> None:
    hist = service.history(thread_id)
    if not every_branch:
        entries = service.branch_timeline(thread_id)
        if steps:
            entries = [c for c in reversed(hist.checkpoints) if c.id in hist.branch_ids]
        if as_json:
            echo(json_for_terminal([c.__dict__ for c in entries]))
        for c in entries if not as_json else []:
            echo(_line(c))
        return
    found = branches(hist, steps=steps)
    if as_json:
        rows: list[dict[str, Any]] = [
            {**c.__dict__, "branch": b.number, "current": b.current}
            for b in found
            for c in b.entries
        ]
        echo(json_for_terminal(rows))
        return
    for b in found:
        state = " (current)" if b.current else ""
        echo(f"branch {b.number} of {len(found)}{state}")
        for c in b.entries:
            echo("  " + _line(c))
        if b.forks_from is not None:
            fork = b.forks_from
            label = one_line(fork.summary or f"({fork.source or 'step'})", 50)
            echo(f"  └ forks from {fork.id}  {label}")
