"""History and rewind: the checkpoint tree, the current branch, going back to an
earlier step (a new branch; nothing is deleted) and switching between branches."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_app.service.errors import ServiceError
from chat_app.service.events import (
    ChatMessage,
    CheckpointInfo,
    History,
    HistorySummary,
    SummaryMark,
)
from chat_app.service.reading import _chat_messages, _reading

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.
    from langchain_core.messages import BaseMessage

    from chat_app.service.facade import ChatService


def history(svc: ChatService, thread_id: str, newest: int | None = None) -> History:
    """The checkpoint tree from metadata only; the current branch marked.

    ``newest``: read only that many of the newest checkpoints (a bounded
    query for a long thread); ``History.complete`` says whether that was all.
    """
    svc.get_thread(thread_id)
    if newest is None:
        cps = svc.index.checkpoints(thread_id)
        complete = True
    else:
        # One more than asked: whether earlier checkpoints exist.
        cps = svc.index.checkpoints(thread_id, newest=newest + 1)
        complete = len(cps) <= newest
        cps = cps[-newest:] if newest > 0 else []
    chosen = svc.index.chosen_head(thread_id)
    if chosen is not None and not complete and all(c.id != chosen for c in cps):
        # The branch shown ends before the newest checkpoints read: read all.
        cps, complete = svc.index.checkpoints(thread_id), True
    by_id = {c.id: c for c in cps}
    head = chosen if chosen in by_id else cps[-1].id if cps else None
    branch: set[str] = set()
    cur = head
    while cur is not None and cur not in branch:
        branch.add(cur)
        cur = by_id[cur].parent_id if cur in by_id else None
    return History(thread_id, cps, head, frozenset(branch), complete)


def branch_timeline(svc: ChatService, thread_id: str) -> list[CheckpointInfo]:
    """Labelled checkpoints of the current branch, newest first."""
    hist = svc.history(thread_id)
    branch = [c for c in hist.checkpoints if c.id in hist.branch_ids]
    out: list[CheckpointInfo] = []
    for i, c in enumerate(branch):
        if not c.kind:
            continue
        nxt = branch[i + 1] if i + 1 < len(branch) else None
        # An input checkpoint whose message went to another branch (this
        # branch forked right at it) is not part of this conversation.
        if c.kind == "user" and nxt is not None and nxt.source in ("input", "update"):
            continue
        out.append(c)
    return out[::-1]


def checkpoint_before_message(svc: ChatService, thread_id: str, message_id: str) -> str:
    """The input checkpoint at which ``message_id`` was sent (current branch)."""
    tl = svc.branch_timeline(thread_id)
    for cp in tl:
        if cp.kind == "user" and svc._input_message_id_at(thread_id, cp.id) == message_id:
            return cp.id
    raise ServiceError("that message is not on the current branch of this thread")


def _input_writes(svc: ChatService, thread_id: str, checkpoint_id: str) -> list[BaseMessage]:
    from langchain_core.messages import HumanMessage

    with _reading(thread_id, checkpoint_id):
        tup = svc.backend.saver.get_tuple(svc._config(thread_id, checkpoint_id))
    out: list[BaseMessage] = []
    for _task, channel, value in (tup.pending_writes or []) if tup else []:
        if channel == "messages" and isinstance(value, list):
            out += [m for m in value if isinstance(m, HumanMessage)]
    return out


def _input_text_at(svc: ChatService, thread_id: str, checkpoint_id: str) -> str:
    msgs = svc._input_writes(thread_id, checkpoint_id)
    return str(msgs[0].content) if msgs else ""


def _input_message_id_at(svc: ChatService, thread_id: str, checkpoint_id: str) -> str:
    msgs = svc._input_writes(thread_id, checkpoint_id)
    return str(msgs[0].id) if msgs else ""


def _fork(svc: ChatService, thread_id: str, checkpoint_id: str, kind: str, summary: str) -> str:
    svc.index.choose_head(thread_id, None)  # the new checkpoint is the newest
    new_cfg = svc.graph.update_state(
        svc._config(thread_id, checkpoint_id), {"learned": []}, as_node="remember"
    )
    new_id = str(new_cfg["configurable"]["checkpoint_id"])
    svc.index.add_note(thread_id, new_id, kind, summary)
    return new_id


def rewind(svc: ChatService, thread_id: str, checkpoint_id: str) -> list[ChatMessage]:
    """Continue from an old checkpoint: a new branch starts there; nothing is deleted."""
    svc.get_thread(thread_id)
    svc._check_checkpoint(thread_id, checkpoint_id)
    with svc._lock(thread_id, svc.settings.storage.busy_timeout_s):
        if svc._flagged_pending(thread_id):
            raise ServiceError(
                "the last reply in this thread did not finish: resume or discard it first"
            )
        kind, summary = svc.index.note(thread_id, checkpoint_id) or ("", "")
        if kind == "user":
            label = f"rewound to before “{summary}”"
        elif summary:
            label = f"rewound to “{summary}”"
        else:
            label = "rewound to an earlier step"
        head = svc._fork(thread_id, checkpoint_id, "rewind", label)
        # The new head has the messages of the checkpoint it continues
        # from, which the fork has just rebuilt (the saver keeps them):
        # read there, not by walking the writes back from the head again.
        msgs = _chat_messages(svc._state_values(thread_id, checkpoint_id).get("messages", []))
        svc._message_cache.put(thread_id, head, msgs)
        svc.index.set_count(thread_id, len(msgs))
        return msgs


def back_to_latest(svc: ChatService, thread_id: str) -> list[ChatMessage]:
    """Show the latest conversation again (after a rewind or a switch to
    another branch); nothing is written to the checkpoints.

    The latest conversation is the branch extended most recently: a rewind
    checkpoint counts as the older one it forked from, so the branch the
    person came from wins over an empty rewind.
    """
    hist = svc.history(thread_id)
    by_id = {c.id: c for c in hist.checkpoints}

    def content(cp: CheckpointInfo) -> str:
        while cp.kind == "rewind" and cp.parent_id in by_id:
            cp = by_id[cp.parent_id]
        return cp.id

    parents = {c.parent_id for c in hist.checkpoints if c.parent_id}
    leaves = [c for c in hist.checkpoints if c.id not in parents]
    if not leaves:
        return svc.load_messages(thread_id)
    # Newest content first; of equal content the leaf itself (not a rewind).
    latest = max(leaves, key=lambda c: (content(c), c.kind != "rewind", c.id))
    return svc.show_branch(thread_id, latest.id)


def show_branch(svc: ChatService, thread_id: str, checkpoint_id: str) -> list[ChatMessage]:
    """Make the branch ending at ``checkpoint_id`` the one the thread shows and
    the next message continues. Only the choice is kept (the app's own
    table); no checkpoint is written, so switching back and forth is free."""
    svc.get_thread(thread_id)
    svc._check_checkpoint(thread_id, checkpoint_id)
    with svc._lock(thread_id, svc.settings.storage.busy_timeout_s):
        if svc.index.is_running(thread_id):
            raise ServiceError(
                "a reply in this thread is being written or did not finish: "
                "wait for it, or resume or discard it first"
            )
        newest = svc.index.newest_checkpoint(thread_id)
        chosen = None if checkpoint_id == newest else checkpoint_id
        if chosen != svc.index.chosen_head(thread_id):
            svc.index.choose_head(thread_id, chosen)
    # The thread's place in the list stays: looking at a branch changes nothing.
    return svc.load_messages(thread_id)


def history_summary(svc: ChatService, thread_id: str) -> HistorySummary | None:
    """The running summary at the thread's head (None while everything fits)."""
    from graphs.history import valid_summary

    svc.get_thread(thread_id)
    values = svc._state_values(thread_id)
    found = valid_summary(values.get("history_summary"), values.get("messages", []))
    if found is None:
        return None
    return HistorySummary(found["text"], found["covers"], found["by"])


def summary_mark(svc: ChatService, thread_id: str) -> SummaryMark | None:
    """Where the chat shows that earlier messages are summarised (None while
    everything fits). Read from the shown head's checkpoint alone, not from
    its message list: cheap enough for every opening of a thread."""
    svc.get_thread(thread_id)
    head = None
    if not svc.index.is_running(thread_id):
        head = svc.index.chosen_head(thread_id) or svc.index.newest_checkpoint(thread_id)
    read, value = svc.backend.plain_value(thread_id, head, "history_summary")
    if not read:
        with _reading(thread_id, head):
            tup = svc.backend.saver.get_tuple(svc._config(thread_id, head))
        value = tup.checkpoint["channel_values"].get("history_summary") if tup else None
    if not isinstance(value, dict):
        return None
    through, covers = value.get("through"), value.get("covers")
    if not isinstance(through, str) or not through or not isinstance(covers, int) or covers < 1:
        return None
    return SummaryMark(through, covers)
