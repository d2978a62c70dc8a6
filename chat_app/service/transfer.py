"""Export a thread to JSON and import it back: same messages, same branches.

The format (``"format": "chat-app-thread"``, ``"version": 2``) holds the
current branch as ``messages`` and every other branch (each leaf of the
checkpoint tree) as ``other_branches[i].messages``. Every branch is a full
message list, so the file reads well and needs no knowledge of checkpoints.

Import treats the file as hostile: it is parsed and validated completely
(size, nesting, types, roles, lengths, ids) before anything is written, and a
refusal is one line naming the reason. The thread is then rebuilt without
calling the model: one ``update_state`` per turn, from the checkpoint of the
turn before it, so branches that share a beginning share its checkpoints.
All of it is one transaction (``Backend.one_transaction``): an import that
fails or is killed halfway leaves nothing behind, and the same file imports
again.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from chat_app.safe_text import clean_input, one_line
from chat_app.service.events import ChatMessage, ThreadInfo

if TYPE_CHECKING:
    from chat_app.service.facade import ChatService

FORMAT = "chat-app-thread"
VERSION = 2
MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_BRANCHES = 10_000
MAX_TOTAL_MESSAGES = 200_000
MAX_TITLE_CHARS = 10_000
MAX_ID_CHARS = 128
_THREAD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_ROLES = ("user", "assistant")
_STATUSES = ("", "stopped")


class ImportRefused(ValueError):
    """The file is not an importable thread; the message is one line."""


@dataclass(frozen=True)
class ThreadDoc:
    thread_id: str | None
    title: str
    current: list[ChatMessage]
    others: list[list[ChatMessage]]


# -- export ------------------------------------------------------------------


def _message_dict(m: ChatMessage) -> dict[str, str]:
    return {"id": m.id, "role": m.role, "text": m.text, "status": m.status}


def export_json(service: ChatService, thread_id: str) -> str:
    """The thread as a version-2 JSON document (ASCII only: safe to print)."""
    info = service.get_thread(thread_id)
    hist = service.history(thread_id)
    children = hist.children()
    branches = []
    for cp in hist.checkpoints:
        if cp.id in children or cp.id == hist.head_id:
            continue
        msgs = service.load_messages(thread_id, cp.id)
        branches.append({"checkpoint_id": cp.id, "messages": [_message_dict(m) for m in msgs]})
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "thread": {"id": info.id, "title": info.title, "created_at": info.created_at},
        "messages": [_message_dict(m) for m in service.load_messages(thread_id)],
        "other_branches": branches,
    }
    # ensure_ascii: every control character, bidi override and lone surrogate
    # is a \\u escape, so the file is faithful and harmless in a terminal.
    return json.dumps(doc, ensure_ascii=True, indent=2)


# -- parsing -----------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ImportRefused(f"duplicate key {one_line(key, 40)!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ImportRefused(f"{name} is not a valid JSON value")


def _expect(value: Any, typ: type, where: str, what: str) -> Any:
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        raise ImportRefused(f"{where}: expected {what}, got {type(value).__name__}")
    return value


def _messages(value: Any, where: str, budget: list[int]) -> list[ChatMessage]:
    items = _expect(value, list, where, "a list of messages")
    budget[0] -= len(items)
    if budget[0] < 0:
        raise ImportRefused(f"too many messages (the limit is {MAX_TOTAL_MESSAGES:,})")
    from chat_app.service.runs import MAX_MESSAGE_CHARS

    out: list[ChatMessage] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        obj = _expect(item, dict, at, "an object")
        for key in ("id", "role", "text"):
            if key not in obj:
                raise ImportRefused(f"{at}: missing field {key!r}")
        mid = _expect(obj["id"], str, f"{at}.id", "a string")
        if not mid or len(mid) > MAX_ID_CHARS:
            raise ImportRefused(f"{at}.id: must be 1-{MAX_ID_CHARS} characters")
        if mid in seen:
            raise ImportRefused(f"{at}.id: the same message id appears twice in one branch")
        seen.add(mid)
        role = _expect(obj["role"], str, f"{at}.role", "a string")
        if role not in _ROLES:
            raise ImportRefused(f"{at}.role: unknown role {one_line(role, 30)!r}")
        text = _expect(obj["text"], str, f"{at}.text", "a string")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ImportRefused(
                f"{at}.text: too long ({len(text):,} characters; the limit is"
                f" {MAX_MESSAGE_CHARS:,})"
            )
        status = _expect(obj.get("status", ""), str, f"{at}.status", "a string")
        if status not in _STATUSES:
            raise ImportRefused(f"{at}.status: unknown status {one_line(status, 30)!r}")
        out.append(
            ChatMessage(id=clean_input(mid), role=role, text=clean_input(text), status=status)
        )
    return out


def parse(data: str) -> ThreadDoc:
    """Validate an export completely; raise ImportRefused with the reason."""
    if not isinstance(data, str):
        raise ImportRefused("the file is not text")
    size = len(data)
    if size > MAX_IMPORT_BYTES or len(data.encode("utf-8", "surrogatepass")) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    try:
        doc = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except ImportRefused:
        raise
    except RecursionError:
        raise ImportRefused("the JSON is nested too deeply") from None
    except ValueError as exc:
        pos = ""
        if isinstance(exc, json.JSONDecodeError):
            pos = f" at line {exc.lineno}, column {exc.colno}"
            reason = exc.msg
        else:
            reason = type(exc).__name__
        raise ImportRefused(f"not valid JSON{pos}: {one_line(reason, 80)}") from None
    _expect(doc, dict, "the file", "a JSON object")
    if doc.get("format") != FORMAT:
        raise ImportRefused(f'not a chat-app thread export ("format" is not {FORMAT!r})')
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version not in (1, 2):
        raise ImportRefused(f"unsupported export version {one_line(repr(version), 20)}")
    thread = _expect(doc.get("thread", {}), dict, "thread", "an object")
    tid = thread.get("id")
    if tid is not None:
        _expect(tid, str, "thread.id", "a string")
        if not _THREAD_ID_RE.match(tid):
            raise ImportRefused("thread.id: not a valid thread id")
    title = _expect(thread.get("title", ""), str, "thread.title", "a string")
    if len(title) > MAX_TITLE_CHARS:
        raise ImportRefused(f"thread.title: longer than {MAX_TITLE_CHARS:,} characters")
    if "messages" not in doc:
        raise ImportRefused("missing field 'messages'")
    budget = [MAX_TOTAL_MESSAGES]
    current = _messages(doc["messages"], "messages", budget)
    raw_others = _expect(doc.get("other_branches", []), list, "other_branches", "a list")
    if len(raw_others) > MAX_BRANCHES:
        raise ImportRefused(f"too many branches (the limit is {MAX_BRANCHES:,})")
    others: list[list[ChatMessage]] = []
    for i, b in enumerate(raw_others):
        branch = _expect(b, dict, f"other_branches[{i}]", "an object")
        if "messages" not in branch:
            raise ImportRefused(f"other_branches[{i}]: missing field 'messages'")
        others.append(_messages(branch["messages"], f"other_branches[{i}].messages", budget))
    return ThreadDoc(tid, title, current, others)


# -- rebuilding --------------------------------------------------------------


def _to_message(m: ChatMessage) -> BaseMessage:
    if m.role == "user":
        return HumanMessage(content=m.text, id=m.id)
    kwargs = {"status": m.status} if m.status else {}
    meta = {"finish_reason": "stopped" if m.status == "stopped" else "stop"}
    return AIMessage(content=m.text, id=m.id, additional_kwargs=kwargs, response_metadata=meta)


def _turns(msgs: list[ChatMessage]) -> list[list[ChatMessage]]:
    """Split a branch into turns: each ends with an assistant message (or the end)."""
    out: list[list[ChatMessage]] = []
    cur: list[ChatMessage] = []
    for m in msgs:
        cur.append(m)
        if m.role == "assistant":
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def _key(m: ChatMessage) -> tuple[str, str, str, str]:
    return (m.id, m.role, m.text, m.status)


def import_thread(
    service: ChatService,
    data: str,
    *,
    new_id: bool = False,
    step: Callable[[str], None] = lambda _where: None,
) -> ThreadInfo:
    """Rebuild an exported thread; refuse (changing nothing) on any problem.

    ``step`` is called after every write (the crash tests stop the process there)."""
    from chat_app.service.errors import ServiceError

    try:
        doc = parse(data)
    except ImportRefused as exc:
        raise ServiceError(f"import refused: {exc}") from None
    tid = doc.thread_id if doc.thread_id and not new_id else str(uuid.uuid4())
    title = one_line(clean_input(doc.title), 120) if doc.title.strip() else ""
    exists = ServiceError(
        f"import refused: a thread with id {tid!r} already exists (use --new-id to import a copy)"
    )
    # Loaded before the transaction takes the write lock: the first use opens
    # the agent's saver and store, which may create their tables.
    graph = service.graph
    with service.backend.one_transaction() as (saver, index):
        if index.owner(tid) is not None or index.newest_checkpoint(tid) is not None:
            # Someone else's thread is refused in the same words as one's own.
            raise exists
        try:
            index.create(service.user_id, title, thread_id=tid)
        except _duplicate_row_errors():
            raise exists from None  # an import of the same thread that committed first
        step("thread row")
        writer = graph.copy(update={"checkpointer": saver})

        def update(parent: str | None, values: dict[str, Any]) -> str:
            conf: dict[str, Any] = {"thread_id": tid, "checkpoint_ns": ""}
            if parent is not None:
                conf["checkpoint_id"] = parent
            cfg: RunnableConfig = {"configurable": conf}
            new = writer.update_state(cfg, values, as_node="remember")
            step("checkpoint")
            return str(new["configurable"]["checkpoint_id"])

        branches = [*doc.others, doc.current]
        notes = _rebuild(branches, update)
        everything = {m.id + "\x00" + m.text: m for b in branches for m in b}
        index.record_turn(
            tid,
            len(doc.current),
            [(m.id, m.role, m.text) for m in everything.values()],
            notes,
        )
        step("index rows")
    # Other instances (and this one's caches) hear of it once it is committed.
    service.index.on_change("thread", tid)
    service.index.on_change("messages", tid)
    return service.get_thread(tid)


def _rebuild(
    branches: list[list[ChatMessage]], update: Callable[[str | None, dict[str, Any]], str]
) -> list[tuple[str, str, str, bool]]:
    """Write the checkpoint tree of ``branches`` (the current one last, so that
    its leaf is the head) through ``update``; the timeline notes to record."""
    from graphs.state import STATE_VERSION

    root = update(None, {"state_version": STATE_VERSION, "settings": {}, "learned": []})
    nodes: dict[tuple[tuple[str, str, str, str], ...], str] = {(): root}
    has_children: set[str] = set()
    notes: list[tuple[str, str, str, bool]] = []
    newest = root
    ends: list[str] = []
    for msgs in branches:
        prefix: tuple[tuple[str, str, str, str], ...] = ()
        parent = root
        for turn in _turns(msgs):
            prefix = prefix + tuple(_key(m) for m in turn)
            node = nodes.get(prefix)
            if node is None:
                node = update(parent, {"messages": [_to_message(m) for m in turn]})
                nodes[prefix] = node
                has_children.add(parent)
                newest = node
                last = turn[-1]
                if last.role == "assistant":
                    summary = "assistant: " + one_line(last.text, 70)
                    notes.append((node, "assistant", summary, False))
            parent = node
        ends.append(parent)
    # Every branch keeps a leaf of its own (a branch may be a beginning of
    # another one), and the current branch's leaf is the newest: the head.
    used: set[str] = set()
    for end in ends[:-1]:
        if end in has_children or end in used or end == ends[-1]:
            fork = update(end, {"learned": []})
            has_children.add(end)
            newest = fork
        used.add(end)
    head = ends[-1]
    if head in has_children or head != newest:
        update(head, {"learned": []})
    return notes


def _duplicate_row_errors() -> tuple[type[Exception], ...]:
    """An insert of a row that exists, on either backend (psycopg is optional)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


def read_import_file(name: str) -> str:
    """The text of an export file ('-' is stdin); ServiceError on a bad file."""
    import sys
    from pathlib import Path

    from chat_app.service.errors import ServiceError

    limit = MAX_IMPORT_BYTES
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(limit + 1)
        else:
            path = Path(name)
            if path.is_dir():
                raise ServiceError(f"import refused: {name}: is a directory")
            with path.open("rb") as fh:
                raw = fh.read(limit + 1)
    except OSError as exc:
        raise ServiceError(f"import refused: {name}: {exc.strerror or 'cannot read'}") from None
    if len(raw) > limit:
        raise ServiceError(f"import refused: the file is larger than {limit // (1024 * 1024)} MB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServiceError(f"import refused: not valid UTF-8 at byte {exc.start}") from None


def export_thread(service: ChatService, thread_id: str, fmt: str = "md") -> str:
    """Markdown to read, or JSON (every branch) that :func:`import_thread` takes."""
    from chat_app.service.errors import ServiceError

    if fmt == "json":
        return export_json(service, thread_id)
    info = service.get_thread(thread_id)
    msgs = service.load_messages(thread_id)
    if fmt != "md":
        raise ServiceError(f"unknown export format {fmt!r}; use md or json")
    lines = [f"# {info.title or 'Untitled thread'}", ""]
    for m in msgs:
        who = "You" if m.role == "user" else "Assistant"
        suffix = " (stopped)" if m.status == "stopped" else ""
        lines += [f"**{who}**{suffix}:", "", m.text, ""]
    return "\n".join(lines)
