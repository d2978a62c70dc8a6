"""The `chat-app` command: the TUI by default, and a headless CLI for scripts.

Every error is one line on stderr and a non-zero exit; no tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from chat_app.config import Settings
    from chat_app.service import ChatService
    from chat_app.service.events import Event

EX_USAGE = 2
EX_FAIL = 1


class _Parser(argparse.ArgumentParser):
    def _print_message(self, message: str, file: Any = None) -> None:
        # Usage errors quote the arguments given: no control character from
        # them reaches the terminal.
        from chat_app.safe_text import to_terminal

        super()._print_message(to_terminal(message), file)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chat-app")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="chat-app",
        description="A terminal chat app whose conversations survive anything.",
    )
    p.add_argument("--version", action="version", version=f"chat-app {_version()}")
    p.add_argument("--config", metavar="PATH", help="read settings from this TOML file")
    p.add_argument("--data-dir", metavar="DIR", help="where the database lives")
    p.add_argument(
        "--memory",
        action="store_true",
        help='keep everything in memory: nothing is saved ([storage] backend = "memory")',
    )
    p.add_argument("--model", metavar="NAME", help="offline, or openai:<model>")
    p.add_argument("--user", metavar="ID", help="whose threads and profile to use")
    p.add_argument(
        "--auto-resume",
        action="store_true",
        default=None,
        help="finish replies interrupted by a crash at start-up ([recovery] auto_resume)",
    )
    p.add_argument(
        "--chaos",
        metavar="SPEC",
        help="demo failures with the offline model, e.g. fail=2,drop=5,kill=40 ([chaos])",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("send", help="send a message and print the reply as it streams")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--thread", metavar="ID", help="the thread to continue")
    g.add_argument("--new", action="store_true", help="start a new thread (the default)")
    s.add_argument("message", help="the message ('-' reads standard input)")

    t = sub.add_parser("threads", help="list threads, newest first")
    t.add_argument("--json", action="store_true")
    t.add_argument("--search", metavar="TEXT", default="", help="filter by title or message text")

    h = sub.add_parser("history", help="checkpoints of the current branch, newest first")
    h.add_argument("thread")
    h.add_argument("--json", action="store_true")
    h.add_argument(
        "--all", "--branches", action="store_true", help="every branch, the current one first"
    )
    h.add_argument("--steps", action="store_true", help="include intermediate steps")

    r = sub.add_parser("rewind", help="continue a thread from an earlier checkpoint")
    r.add_argument("thread")
    r.add_argument("checkpoint")

    sh = sub.add_parser("show", help="print a thread's conversation")
    sh.add_argument("thread")
    sh.add_argument("--at", metavar="CHECKPOINT", help="as it was at this checkpoint")
    sh.add_argument(
        "--every-checkpoint",
        action="store_true",
        help="with --json: {checkpoint id: messages} for every checkpoint of every branch",
    )
    sh.add_argument("--json", action="store_true")

    e = sub.add_parser("export", help="export a thread")
    e.add_argument("thread")
    e.add_argument("--format", choices=["md", "json"], default="md")

    im = sub.add_parser("import", help="import a thread from a JSON export ('-': stdin)")
    im.add_argument("file")
    im.add_argument("--new-id", action="store_true", help="import a copy under a new thread id")

    rn = sub.add_parser("rename", help="rename a thread")
    rn.add_argument("thread")
    rn.add_argument("title")

    d = sub.add_parser("delete", help="delete a thread and all its checkpoints")
    d.add_argument("thread")

    res = sub.add_parser("resume", help="finish a reply interrupted by a crash or failure")
    res.add_argument("thread")

    pr = sub.add_parser("profile", help="what the agent knows about you")
    pr.add_argument("--json", action="store_true")
    psub = pr.add_subparsers(dest="profile_command", metavar="ACTION")
    pf = psub.add_parser("forget", help="forget one fact (or 'all')")
    pf.add_argument("key")
    pe = psub.add_parser("set", help="correct a fact, or add one (e.g. like:tea yes)")
    pe.add_argument("key")
    pe.add_argument("value")
    prr = psub.add_parser("retry", help="read again the messages the profile missed")
    prr.add_argument("thread")

    sm = sub.add_parser("summary", help="what the model is told of a thread's older messages")
    sm.add_argument("thread")

    sub.add_parser("config", help="print the effective settings (without secrets)")
    mg = sub.add_parser(
        "migrate", help="copy the SQLite database into PostgreSQL or Redis, then verify"
    )
    mg.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://user@host/db or redis://host:6379/0",
    )
    from chat_app.ops import add_parsers

    add_parsers(sub)
    return p


def _settings(args: argparse.Namespace, warnings: list[str] | None = None) -> Settings:
    from chat_app.config import load_settings, user_id_problem
    from chat_app.ops import UsageError, parse_chaos

    # "" would otherwise mean "unset" (the login name): say no, as to "  ".
    if args.user is not None and (problem := user_id_problem(args.user)):
        raise UsageError(f"--user: {problem}")

    overrides: dict[str, dict[str, Any]] = {
        "storage": {"data_dir": args.data_dir, "backend": "memory" if args.memory else None},
        "model": {"name": args.model},
        "user": {"id": args.user},
        "recovery": {"auto_resume": args.auto_resume},
        "chaos": dict(parse_chaos(args.chaos)) if args.chaos else {},
    }
    if warnings is not None:
        return load_settings(args.config, overrides=overrides, warnings=warnings)
    warnings = []
    settings = load_settings(args.config, overrides=overrides, warnings=warnings)
    from chat_app.ops import say

    for w in warnings:
        say(f"warning: {w}")
    return settings


EX_STDOUT_CLOSED = 141  # as a shell reports a process ended by SIGPIPE


def _silence(out: TextIO) -> None:
    """After EPIPE: send what is still buffered, and the rest, to /dev/null (else
    Python's flush at exit prints "Exception ignored ... BrokenPipeError")."""
    try:
        fd = out.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class _PipeGuard:
    """Writes to ``out`` until the reader goes away (``send ... | head -1``),
    then drops them: the reply must still run to its end and be saved."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.closed = False

    def write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except BrokenPipeError:
            self.closed = True
            _silence(self.out)


class _LiveReply:
    """The reply as it streams to a terminal: a retry starts the reply again,
    so what the failed attempt printed is erased, never repeated."""

    def __init__(self, guard: _PipeGuard) -> None:
        self.guard = guard
        self.printed = ""

    def add(self, text: str) -> None:
        self.printed += text
        self.guard.write(text)

    def erase(self) -> None:
        if not self.printed:
            return
        from rich.cells import cell_len

        columns = max(1, shutil.get_terminal_size().columns)
        rows = sum(max(1, -(-cell_len(line) // columns)) for line in self.printed.split("\n"))
        # Our own cursor movement (never untrusted text): to the reply's first
        # row, then clear to the end of the screen.
        up = f"\x1b[{rows - 1}A" if rows > 1 else ""
        self.guard.write(f"\r{up}\x1b[J")
        self.printed = ""


def _print_events(events: Iterator[Event], out: TextIO) -> int:
    """Print a reply. To a terminal it streams (a retry replaces what the failed
    attempt printed); to a pipe or a file it is written once, as stored."""
    from chat_app.ops import say
    from chat_app.safe_text import to_terminal
    from chat_app.service.events import (
        ProfileNotUpdated,
        ReplyFailed,
        ReplyFinished,
        Retrying,
        ThreadBusy,
        Token,
    )

    status = 0
    guard = _PipeGuard(out)
    live = _LiveReply(guard) if out.isatty() else None
    after_cr = False
    for ev in events:
        if isinstance(ev, ProfileNotUpdated):
            say(
                f"profile not updated: {ev.reason} (tried again with the next message,"
                f" or run: chat-app profile retry {ev.thread_id})"
            )
        elif isinstance(ev, Token):
            # A CRLF split across two tokens is one line break, not two.
            text = ev.text[1:] if after_cr and ev.text.startswith("\n") else ev.text
            after_cr = text.endswith("\r")
            if live is not None:
                live.add(to_terminal(text))
        elif isinstance(ev, Retrying):
            if live is not None:
                live.erase()
            say(f"{ev.reason}; retrying {ev.attempt}/{ev.max_attempts} in {ev.delay_s:.0f} s")
        elif isinstance(ev, ThreadBusy):
            say("the thread is busy in another window; waiting")
        elif isinstance(ev, ReplyFailed):
            hint = f" (run: chat-app resume {ev.thread_id})" if ev.can_retry else ""
            sys.stderr.write("\n")
            say(f"reply failed: {ev.reason}{hint}")
            status = EX_FAIL
        elif isinstance(ev, ReplyFinished):
            if live is None:
                guard.write(to_terminal(ev.message.text))
            guard.write(" [stopped]\n" if ev.message.status == "stopped" else "\n")
    if guard.closed:
        say(
            "standard output was closed before the reply ended;"
            " the reply was saved in full (chat-app show THREAD prints it)"
        )
        return status or EX_STDOUT_CLOSED
    return status


def _cmd(service: ChatService, args: argparse.Namespace) -> int:
    from chat_app.safe_text import echo, json_for_terminal, one_line

    cmd = args.command
    if isinstance(getattr(args, "thread", None), str) and args.thread:
        # Every command naming one thread takes a unique prefix of its id.
        args.thread = service.resolve_thread_id(args.thread)
    if cmd == "send":
        text = sys.stdin.read() if args.message == "-" else args.message
        # Refused before a new thread is made: no empty thread is left behind.
        service.check_message(text)
        if args.thread:
            thread_id = service.get_thread(args.thread).id
        else:
            thread_id = service.create_thread().id
        echo(thread_id, file=sys.stderr)
        from chat_app.ops import recover_before_send

        if recover_before_send(service, thread_id if args.thread else None):
            return EX_FAIL
        return _print_events(service.send(thread_id, text), sys.stdout)
    if cmd == "resume":
        return _print_events(service.resume(args.thread), sys.stdout)
    from chat_app.ops import dispatch

    if (status := dispatch(service, args)) is not None:
        return status
    if cmd == "threads":
        threads = service.list_threads(query=args.search)
        if args.json:
            echo(json_for_terminal([t._asdict() for t in threads]))
        else:
            for t in threads:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.updated_at))
                flag = " [interrupted]" if t.interrupted else ""
                echo(
                    f"{t.id}  {when}  {t.message_count:>4} msgs  "
                    f"{one_line(t.title or '(untitled)', 60)}{flag}"
                )
        return 0
    if cmd == "history":
        from chat_app.history_listing import print_history

        print_history(
            service, args.thread, every_branch=args.all, steps=args.steps, as_json=args.json
        )
        return 0
    if cmd == "rewind":
        msgs = service.rewind(args.thread, args.checkpoint)
        echo(f"rewound: the thread now continues after {len(msgs)} messages")
        return 0
    if cmd == "show" and args.every_checkpoint:
        every = {
            c.id: [dataclasses.asdict(m) for m in service.load_messages(args.thread, c.id)]
            for c in service.history(args.thread).checkpoints
        }
        echo(json_for_terminal(every))
        return 0
    if cmd == "summary":
        summary = service.history_summary(args.thread)
        if summary is None:
            echo("no summary: the whole thread fits in the model's requests")
        else:
            by = "written by the model" if summary.by == "model" else "extracted by rules"
            echo(f"summary of the first {summary.covers} messages ({by}):")
            echo(summary.text)
        return 0
    if cmd == "show":
        shown = service.load_messages(args.thread, args.at)
        if args.json:
            echo(json_for_terminal([dataclasses.asdict(m) for m in shown]))
            return 0
        mark = service.summary_mark(args.thread) if args.at is None else None
        for m in shown:
            who = "you" if m.role == "user" else "assistant"
            echo(f"{who}: {m.text}")
            if mark is not None and m.id == mark.through:
                echo(f"--- the {mark.covers} messages above reach the model as a summary ---")
        return 0
    if cmd == "export":
        # Markdown is for reading: made safe wherever it goes. JSON is the
        # exact copy; it is all ASCII with its controls escaped, so this
        # leaves it unchanged.
        echo(service.export_thread(args.thread, args.format))
        return 0
    if cmd == "import":
        from chat_app.service.transfer import read_import_file

        info = service.import_thread(read_import_file(args.file), new_id=args.new_id)
        echo(info.id)
        return 0
    if cmd == "rename":
        service.rename_thread(args.thread, args.title)
        return 0
    if cmd == "delete":
        service.delete_thread(args.thread)
        echo("deleted")
        return 0
    if cmd == "profile":
        pc = getattr(args, "profile_command", None)
        if pc == "forget":
            if args.key == "all":
                echo(f"forgot {service.forget_all()} facts")
            else:
                service.forget(args.key)
                echo(f"forgot {args.key}")
            return 0
        if pc == "set":
            service.edit_fact(args.key, args.value, create=True)
            return 0
        if pc == "retry":
            status = _print_events(service.retry_profile(args.thread), sys.stdout)
            reason = service.profile_not_updated(args.thread)
            echo("profile not updated" if reason else "profile up to date")
            return EX_FAIL if reason else status
        facts = service.profile()
        if args.json:
            echo(json_for_terminal([f.to_dict() for f in facts]))
        else:
            for f in facts:
                where = f"thread {f.thread_id[:8]}" if f.thread_id else "edited"
                if f.learned_by == "rules":
                    where += ", by rules"
                echo(
                    f"{f.key}: {one_line(f.value, 60)}  (learned {f.learned_at}, {where}, "
                    f"from: {one_line(f.source_text, 40)!r})"
                )
        return 0
    raise AssertionError(cmd)


class _RedactingFormatter(logging.Formatter):
    """A library's message may quote a DSN or URL: its password stays out of the log."""

    def format(self, record: logging.LogRecord) -> str:
        from chat_app.safe_text import redact_secrets

        return redact_secrets(super().format(record))


def _log_warnings_to_file(data_dir: Path) -> None:
    """Library warnings (e.g. a blocked type in a damaged checkpoint) go to the
    0600 log file, not onto the terminal: errors stay one line."""
    root = logging.getLogger()
    if any(getattr(h, "chat_app", False) for h in root.handlers):
        return
    handler: logging.Handler
    try:
        from chat_app.storage.private_files import make_private_dir

        make_private_dir(data_dir)
        fd = os.open(data_dir / "chat-app.log", os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
        handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    except OSError:
        handler = logging.NullHandler()
    handler.setLevel(logging.WARNING)
    setattr(handler, "chat_app", True)  # noqa: B010
    root.addHandler(handler)


def _log_crash(data_dir: Path) -> Path:
    import traceback

    from chat_app.safe_text import redact_secrets

    path = data_dir / "chat-app.log"
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        trace = redact_secrets(traceback.format_exc())
        fh.write(time.strftime("%Y-%m-%d %H:%M:%S ") + trace + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything imports langgraph: refuse to revive arbitrary classes.
    os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
    args = _parser().parse_args(argv)
    from chat_app import memory_mode
    from chat_app.config import EX_CONFIG, ConfigError
    from chat_app.ops import UsageError, say

    if args.command == "doctor":
        from chat_app.doctor import run_doctor

        try:
            return run_doctor(lambda warnings: _settings(args, warnings), full=args.full)
        except UsageError as exc:
            say(str(exc))
            return EX_USAGE
    try:
        settings = _settings(args)
    except ConfigError as exc:
        say(f"config error: {exc}")
        return EX_CONFIG
    except UsageError as exc:
        say(str(exc))
        return EX_USAGE
    if args.command == "config":
        from chat_app.safe_text import echo, json_for_terminal

        echo(json_for_terminal(settings.public_dict()))
        if memory_mode.in_memory(settings):
            say(memory_mode.NOTHING_SAVED)
        return 0
    if memory_mode.in_memory(settings):
        if (refused := memory_mode.refusal(args.command)) is not None:
            say(refused)
            return EX_USAGE
        memory_mode.log_nowhere()
    # Before migrate too: the PostgreSQL pool logs each failed connection.
    _log_warnings_to_file(settings.data_dir)
    if args.command == "migrate":
        if args.to.startswith(("redis://", "rediss://", "unix://")):
            from chat_app.storage.migrate_redis import run_migrate_to_redis

            return run_migrate_to_redis(settings.data_dir, args.to, settings.storage.busy_timeout_s)
        from chat_app.storage.migrate import run_migrate_command

        return run_migrate_command(settings, args.to)
    from graphs.langgraph_compat import unsupported

    if (problem := unsupported()) is not None:
        say(problem)
        return EX_FAIL
    from chat_app.service import (
        AmbiguousThreadId,
        ChatService,
        ServiceError,
        storage_errors,
    )
    from chat_app.storage.errors import StorageError
    from graphs.errors import ModelCallError

    try:
        service = ChatService(settings)
    except (StorageError, ModelCallError, ServiceError) as exc:
        say(str(exc))
        return EX_FAIL
    from chat_app.service.short_term import RedisTier

    tier = service.short_term
    if isinstance(tier, RedisTier) and tier.probe() == "degraded":
        # Nothing is lost without Redis (it never holds the only copy); say so once.
        say(
            "warning: Redis does not answer; session context stays in this process until it is back"
        )
    try:
        if args.command is None:
            from chat_app.ui.app import run_app

            status = run_app(settings, service)
        else:
            status = _cmd(service, args)
        if memory_mode.in_memory(settings):
            say(memory_mode.NOTHING_KEPT)
        return status
    except AmbiguousThreadId as exc:
        say(str(exc))
        return EX_USAGE
    except (ServiceError, StorageError) as exc:
        say(str(exc))
        return EX_FAIL
    except storage_errors() as exc:
        # Damage SQLite finds after start-up: the file and what to do, not "internal error".
        say(service.describe_storage_error(exc))
        return EX_FAIL
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        say("interrupted")
        return 130
    except BrokenPipeError:
        _silence(sys.stdout)
        return 0
    except Exception as exc:
        # Never a traceback on the terminal: one line, the details in the log.
        if memory_mode.in_memory(settings):
            say(f"internal error ({type(exc).__name__}: {exc}); nothing is logged in memory")
            return EX_FAIL
        log_path = _log_crash(settings.data_dir)
        say(f"internal error ({type(exc).__name__}); details in {log_path}")
        return EX_FAIL
    finally:
        service.close()
