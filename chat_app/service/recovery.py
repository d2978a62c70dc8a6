"""After a crash: replies left unfinished (resume, discard, start-up recovery) and
messages held in the outbox between Enter and their input checkpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chat_app.safe_text import clean_input, one_line
from chat_app.service.errors import ServiceError, storage_errors
from chat_app.service.events import (
    CheckpointInfo,
    Event,
    ReplyFailed,
)
from chat_app.service.outbox import Unsent
from chat_app.service.reading import _reading

if TYPE_CHECKING:
    # The agent's libraries (LangChain, LangGraph: over a second of imports)
    # load when the agent is first needed, not when the service opens: the
    # thread list and the open conversation are read without them.

    from chat_app.service.facade import ChatService


def _holds_message(value: Any, message_id: str) -> bool:
    """Whether a pending write (a message, or lists/dicts of them) holds the id."""
    if isinstance(value, dict):
        return any(_holds_message(v, message_id) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_message(v, message_id) for v in value)
    return getattr(value, "id", None) == message_id


@dataclass(frozen=True)
class PendingRun:
    """A thread whose last reply did not finish."""

    thread_id: str
    title: str
    user_text: str
    partial: str


@dataclass
class RecoveryReport:
    """What :meth:`ChatService.recover` found among the threads marked running."""

    resumed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    # Interrupted threads of other users: left flagged for them, not named here.
    other_users: int = 0


def hold(svc: ChatService, thread_id: str | None, text: str) -> str:
    """Keep a message durably before it leaves the input box; its message id.

    Pass the id to :meth:`send`; :meth:`give_back` when the text goes back
    into the box instead.
    """
    text = clean_input(text)
    with svc._outbox_errors():
        return svc.outbox.put(thread_id, text)


def give_back(svc: ChatService, message_id: str) -> None:
    """The held message went back into the input box unsent: it stays kept
    as a draft of its thread until the person sends from that thread."""
    with svc._outbox_errors():
        svc.outbox.mark_returned(message_id)


def unsent_messages(svc: ChatService, default_thread: str | None = None) -> list[Unsent]:
    """Messages a stopped app had held: each reached its thread exactly once
    (dropped from the outbox) or is given back (returned as a draft of its
    thread; of ``default_thread``, the one shown first, when it had none or
    that thread is gone). A returned draft stays here until the person
    sends from its thread."""
    out: list[Unsent] = []
    with svc._outbox_errors():
        for row in svc.outbox.orphans():
            tid = row.thread_id
            if tid is not None and svc.index.get(svc.user_id, tid) is None:
                tid = None
            if tid is None:
                tid = default_thread
            if tid is not None and svc._message_saved(tid, row.message_id):
                svc.outbox.remove(row.message_id)
                continue
            svc.outbox.mark_returned(row.message_id, tid)
            out.append(Unsent(row.message_id, tid, row.text))
    return out


def _message_saved(svc: ChatService, thread_id: str, message_id: str) -> bool:
    """The message is in the thread: at its head, or in the input of the
    turn a crash interrupted (which recovery resumes): the input
    checkpoint's ``__start__`` value or its pending writes."""
    if any(m.id == message_id for m in svc._head_messages(thread_id)):
        return True
    with _reading(thread_id):
        tup = svc.backend.saver.get_tuple(svc._config(thread_id))
    if tup is None:
        return False
    start = tup.checkpoint["channel_values"].get("__start__")
    writes = [value for _task, _channel, value in tup.pending_writes or []]
    return _holds_message([start, writes], message_id)


def _pending(svc: ChatService, thread_id: str) -> bool:
    with _reading(thread_id):
        snap = svc.graph.get_state(svc._config(thread_id))
    return bool(snap.next or snap.tasks)


def _flagged_pending(svc: ChatService, thread_id: str) -> bool:
    """Cheap check first: only a thread marked running can have a pending run."""
    return svc.index.is_running(thread_id) and svc._pending(thread_id)


def pending_runs(svc: ChatService) -> list[PendingRun]:
    """Threads whose last reply did not finish (after a crash or a failure)."""
    out: list[PendingRun] = []
    for tid in svc.index.running(svc.user_id):
        lock = svc.backend.lock(tid)
        if not lock.try_acquire():
            # A live run (this process or another instance): not interrupted.
            continue
        with lock:
            if not svc._pending(tid):
                # Marked running but nothing was left undone: the crash came
                # before the message was saved, or after the reply was.
                svc._finish_bookkeeping(tid, [])
                continue
        from langchain_core.messages import HumanMessage

        svc._index_interrupted(tid)
        info = svc.get_thread(tid)
        values = svc._state_values(tid)
        msgs = values.get("messages", [])
        user_text = ""
        if msgs and isinstance(msgs[-1], HumanMessage):
            user_text = str(msgs[-1].content)
        else:
            # The input is still a pending write of the input checkpoint.
            user_text = svc._pending_input_text(tid)
        out.append(PendingRun(tid, info.title, user_text, svc.index.partial(tid)))
    return out


def recover(
    svc: ChatService, *, resume: bool | None = None, on_event: Callable[[Event], None] | None = None
) -> RecoveryReport:
    """Start-up recovery over EVERY thread marked running (all users).

    A run left unfinished by a crash is resumed (``resume``, default the
    ``[recovery] auto_resume`` setting; only this user's threads) or left
    marked interrupted for :meth:`pending_runs`; a thread marked running
    with nothing left undone is marked idle. A thread whose lock another
    instance holds is being written right now, so it is left alone.
    """
    if resume is None:
        resume = svc.settings.recovery.auto_resume
    report = RecoveryReport()
    for tid in svc.index.running():
        lock = svc.backend.lock(tid)
        if not lock.try_acquire():
            if svc.index.owner(tid) == svc.user_id:
                report.busy.append(tid)
            continue
        with lock:
            if not svc._pending(tid):
                svc._finish_bookkeeping(tid, [])
                report.cleared.append(tid)
                continue
        if svc.index.owner(tid) != svc.user_id:
            report.other_users += 1
            continue
        if not resume:
            report.interrupted.append(tid)
            continue
        reason = ""
        try:
            for ev in svc.resume(tid):
                if on_event is not None:
                    on_event(ev)
                if isinstance(ev, ReplyFailed):
                    reason = ev.reason
        except ServiceError as exc:
            reason = str(exc)
        if reason:
            report.failed.append((tid, reason))
        else:
            report.resumed.append(tid)
    return report


def _index_interrupted(svc: ChatService, thread_id: str) -> None:
    """A turn left unfinished: the thread lists its real message count and
    History shows the person's message (both are otherwise written when a
    turn finishes)."""
    cps = svc.index.checkpoints(thread_id, newest=8)
    start = next((c for c in reversed(cps) if c.source == "input"), None)
    if start is None or start.kind:
        return
    text = svc._input_text_at(thread_id, start.id)
    if not text:
        return
    msgs = svc._state_values(thread_id).get("messages", [])
    # The message is in the state once the turn's first step ran; before
    # that it is only the input checkpoint's pending value.
    in_state = any(getattr(m, "content", None) == text for m in msgs[-2:])
    # Only labels: a busy or read-only database leaves them for later.
    with contextlib.suppress(*storage_errors()):
        svc.index.add_note(thread_id, start.id, "user", "you: " + one_line(text, 70))
        svc.index.set_count(thread_id, len(msgs) + (0 if in_state else 1))


def _pending_input_text(svc: ChatService, thread_id: str) -> str:
    from langchain_core.messages import HumanMessage

    with _reading(thread_id):
        tup = svc.backend.saver.get_tuple(svc._config(thread_id))
    for _task, channel, value in (tup.pending_writes or []) if tup else []:
        if channel == "messages" and isinstance(value, list):
            for m in value:
                if isinstance(m, HumanMessage):
                    return str(m.content)
    return ""


def resume(svc: ChatService, thread_id: str) -> Iterator[Event]:
    """Finish a reply that was interrupted; produces exactly one reply."""
    svc.get_thread(thread_id)
    with svc._lock(thread_id, svc.settings.storage.busy_timeout_s), svc._storage_errors():
        if not svc._pending(thread_id):
            svc._finish_bookkeeping(thread_id, [])
            raise ServiceError("nothing to resume: the last reply finished")
        svc.index.choose_head(thread_id, None)  # the reply ends the newest branch
        svc.index.set_run_state(thread_id, "running")
        yield from svc._run(thread_id, None, svc._config(thread_id), user_message=None)


def discard(svc: ChatService, thread_id: str) -> bool:
    """Drop an interrupted turn: the branch returns to before it (kept in history).

    False when there was no interrupted turn: nothing is changed then
    (beyond clearing a stale "running" mark), so the thread keeps its place.
    """
    svc.get_thread(thread_id)
    with svc._lock(thread_id, svc.settings.storage.busy_timeout_s):
        if not svc._pending(thread_id):
            if svc.index.is_running(thread_id):
                svc._finish_bookkeeping(thread_id, [])
            return False
        cps = svc.index.checkpoints(thread_id)
        by_id = {c.id: c for c in cps}
        cur: CheckpointInfo | None = cps[-1]
        while cur is not None and cur.source != "input":
            cur = by_id.get(cur.parent_id or "")
        if cur is None:
            raise ServiceError("cannot find where the interrupted turn started")
        svc._fork(thread_id, cur.id, "rewind", "discarded an interrupted reply")
        svc._finish_bookkeeping(thread_id, [])
        return True
