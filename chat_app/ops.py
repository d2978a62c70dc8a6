"""CLI commands for recovery and upkeep: recover, discard, prune, soak, --chaos.

Kept out of ``cli.py`` so that file stays a thin dispatcher. Like the rest of
the CLI: one line per problem on stderr, no tracebacks.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from chat_app.config import ConfigError, check_range
from chat_app.safe_text import echo, redact_secrets

if TYPE_CHECKING:
    from chat_app.service import ChatService, RecoveryReport
    from chat_app.service.events import Event

CHAOS_KEYS = {
    "fail": "fail_next",
    "fail_next": "fail_next",
    "drop": "drop_stream_after",
    "drop_stream_after": "drop_stream_after",
    "kill": "kill_after_tokens",
    "kill_after_tokens": "kill_after_tokens",
}


class UsageError(Exception):
    """A bad command-line value; one line for the person."""


def parse_chaos(spec: str) -> dict[str, int]:
    """``fail=2,drop=5,kill=40`` -> the ``[chaos]`` settings it stands for."""
    out: dict[str, int] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        name = CHAOS_KEYS.get(key.strip().lower())
        if not sep or name is None:
            raise UsageError(
                f"--chaos: {part!r} is not KEY=N with KEY one of fail, drop, kill"
                " (e.g. --chaos fail=2,drop=5,kill=40)"
            )
        # A bad number is a configuration error (exit 78), as in the [chaos] section.
        where = f"command line --chaos {key.strip()} (chaos.{name})"
        if not re.fullmatch(r"-?\d{1,30}", value.strip()):
            raise ConfigError(f"{where}: expected a whole number, got {value.strip()!r}")
        out[name] = int(value)
        check_range("chaos", name, out[name], where)
    return out


def say(line: str) -> None:
    """One line for the person on stderr: no secret, no control character."""
    echo(f"chat-app: {redact_secrets(line)}", file=sys.stderr)


def _report_lines(report: RecoveryReport) -> list[str]:
    lines = [f"resumed the interrupted reply in thread {t}" for t in report.resumed]
    lines += [f"could not resume thread {t}: {why}" for t, why in report.failed]
    lines += [
        f"thread {t} has an interrupted reply; run `chat-app resume {t}` or `chat-app discard {t}`"
        for t in report.interrupted
    ]
    return lines


def recover_before_send(service: ChatService, thread_id: str | None) -> bool:
    """Start-up recovery for ``send``; True when the send must not go ahead.

    With ``auto_resume`` every interrupted reply of this user is finished
    first. Without it, sending to a thread whose last reply did not finish is
    refused with one line naming the two ways out.
    """
    auto = service.settings.recovery.auto_resume
    report = service.recover(resume=auto)
    for line in _report_lines(report):
        if not line.startswith("thread "):
            say(line)
    # A thread in report.busy has a live reply elsewhere: send waits for its lock.
    if thread_id is not None and thread_id in report.interrupted:
        say(
            f"the last reply in thread {thread_id} did not finish; run"
            f" `chat-app resume {thread_id}` or `chat-app discard {thread_id}` first"
            " (or send with --auto-resume)"
        )
        return True
    return False


def cmd_recover(service: ChatService) -> int:
    report = service.recover()
    lines = _report_lines(report)
    for t in report.busy:
        lines.append(f"thread {t} is being written by another instance right now")
    if not lines:
        echo("nothing to recover: every reply finished")
    for line in lines:
        echo(redact_secrets(line))
    return 1 if report.failed else 0


def cmd_discard(service: ChatService, thread_id: str) -> int:
    if not service.discard(thread_id):
        echo("nothing to discard: the last reply in this thread finished")
        return 0
    echo("discarded the interrupted reply; the thread continues from before it (kept in history)")
    return 0


def cmd_prune(service: ChatService, args: argparse.Namespace) -> int:
    from chat_app.service import ServiceError
    from chat_app.storage import upkeep as mt

    backend = service.backend
    try:
        upkeep = mt.upkeep_for(backend)
    except TypeError as exc:
        raise ServiceError(str(exc)) from None
    policy = service.settings.retention
    if args.thread:
        tids = [service.get_thread(args.thread).id]
    else:
        tids = [t.id for t in service.list_threads()]
    report = mt.PruneReport(dry_run=args.dry_run, file_bytes_before=upkeep.total_bytes())
    verb = "would drop" if args.dry_run else "dropped"
    for tid in tids:
        lock = backend.lock(tid)
        if not lock.try_acquire():
            report.skipped_busy.append(tid)
            echo(f"thread {tid}: skipped (a reply is being written in another window)")
            continue
        with lock:
            plan = mt.plan_thread(upkeep, tid, policy, shown_head=service.index.chosen_head(tid))
            if not plan.checkpoints:
                continue
            if not args.dry_run:
                upkeep.delete(tid, plan.ids)
        report.threads.append(plan)
        echo(
            f"thread {tid}: {verb} {plan.checkpoints} checkpoints of {plan.branches}"
            f" old branch{'es' if plan.branches != 1 else ''} ({mt.human_bytes(plan.bytes)})"
        )
    total = (
        f"{verb} {report.checkpoints} checkpoints ({mt.human_bytes(report.bytes)})"
        f" in {len(report.threads)} threads; current branches untouched"
    )
    if args.dry_run:
        echo(total + "; nothing was changed (dry run)")
        return 0
    if not upkeep.compacts:
        echo(
            f"{total}; tables {mt.human_bytes(report.file_bytes_before)}; no VACUUM needed on"
            " PostgreSQL (autovacuum makes the freed space reusable)"
        )
        return 0
    upkeep.compact()
    after = upkeep.total_bytes()
    echo(
        f"{total}; database {mt.human_bytes(report.file_bytes_before)}"
        f" -> {mt.human_bytes(after)} after VACUUM"
    )
    return 0


def _next_turn(service: ChatService, threads: list[str], prefix: str) -> int:
    """The next turn number, from what is durably on the threads' current branches."""
    pat = re.compile(rf"^{re.escape(prefix)} (\d+)$")
    best = -1
    for tid in threads:
        for m in service.load_messages(tid):
            if m.role == "user" and (hit := pat.match(m.text)):
                best = max(best, int(hit.group(1)))
    return best + 1


def cmd_soak(service: ChatService, args: argparse.Namespace) -> int:
    """Driver for the crash harness and the two-instance test (hidden command).

    With ``--wait-go`` it first prints ``OPEN`` and waits for a ``GO`` line on
    standard input. Prints ``READY`` once the database and the agent are open,
    ``RESUMED <thread>`` for each reply finished by the start-up recovery,
    ``RECOVERED <n>``, then sends
    ``<prefix> <n>`` to ``threads[n % len(threads)]`` and prints ``ACK <n>``
    after each send returns with a complete reply.
    """
    from chat_app.service.events import ReplyFailed

    threads: list[str] = args.thread
    if args.wait_go:
        # The harness checks the database while this process starts; nothing
        # is written before it says GO.
        echo("OPEN", flush=True)
        if sys.stdin.readline().strip() != "GO":
            return 1
    for tid in threads:
        if service.index.get(service.user_id, tid) is None:
            # The other instance may have created it first (sqlite3.IntegrityError,
            # or psycopg's UniqueViolation on PostgreSQL).
            try:
                service.index.create(service.user_id, f"soak {tid}", thread_id=tid)
            except Exception:
                if service.index.get(service.user_id, tid) is None:
                    raise
    # Loaded before READY: the harness's kills are meant to land in the work.
    service.load_agent()
    echo("READY", flush=True)
    report = service.recover(resume=True)
    for tid in report.resumed:
        echo(f"RESUMED {tid}", flush=True)
    for tid, why in report.failed:
        echo(f"RESUME-FAILED {tid} {why}", flush=True)
    echo(f"RECOVERED {len(report.resumed)}", flush=True)
    n = _next_turn(service, threads, args.prefix)
    sent = 0
    while args.count < 0 or sent < args.count:
        tid = threads[n % len(threads)]
        events: list[Event] = []
        for ev in service.send(tid, f"{args.prefix} {n}"):
            events.append(ev)
            if isinstance(ev, ReplyFailed):
                echo(f"FAILED {n} {ev.reason}", flush=True)
                return 1
        echo(f"ACK {n}", flush=True)
        n += 1
        sent += 1
    return 0


def cmd_reindex(service: ChatService) -> int:
    from chat_app.safe_text import one_line
    from chat_app.service.reindex import reindex

    added = reindex(service)
    for t in added:
        echo(f"{t.id}  {t.message_count:>4} msgs  {one_line(t.title or '(untitled)', 60)}")
    plural = "s" if len(added) != 1 else ""
    echo(f"indexed {len(added)} thread{plural} found only in the checkpoints")
    return 0


def cmd_upgrade_storage(service: ChatService) -> int:
    from chat_app.storage import upgrade

    def done(thread_id: str, blobs: int) -> None:
        echo(f"thread {thread_id}: rewrote {blobs} blobs in LangGraph's format")

    backend: Any = service.backend
    if backend.name == "redis":
        echo("the redis backend keeps checkpoints in LangGraph's own layout: nothing to upgrade")
        return 0
    if backend.name == "postgres":
        report = upgrade.upgrade_postgres(backend.pool, done)
    else:
        from chat_app.service.privacy import compact

        report = upgrade.upgrade_sqlite(backend.app_conn, done)
        if report.relaid:
            echo("rebuilt the checkpoints table in LangGraph's layout")
        if report.relaid or report.blobs:
            compact(backend.db_path, service.settings.storage.busy_timeout_s)
    echo(
        f"upgraded {report.threads} thread{'s' if report.threads != 1 else ''}"
        f" ({report.blobs} blobs); every checkpoint is now readable by stock LangGraph"
    )
    return 0


def add_parsers(sub: Any) -> None:
    """The recovery and upkeep subcommands (``sub`` is the CLI's subparsers)."""
    dc = sub.add_parser("discard", help="drop a reply interrupted by a crash (kept in history)")
    dc.add_argument("thread")
    sub.add_parser("recover", help="finish or flag every reply a crash interrupted")
    pr = sub.add_parser("prune", help="drop old abandoned branches, then VACUUM (SQLite)")
    pr.add_argument("--dry-run", action="store_true", help="only say what would go")
    pr.add_argument("--thread", metavar="ID", help="only this thread")
    sub.add_parser("reindex", help="list threads another program wrote into the database")
    sub.add_parser(
        "upgrade-storage", help="rewrite checkpoints stored by older versions in LangGraph's format"
    )
    dr = sub.add_parser("doctor", help="check the database, permissions, config and model")
    dr.add_argument("--full", action="store_true", help="integrity_check instead of quick_check")
    # Hidden: the crash harness's driver (no help, so not listed).
    so = sub.add_parser("soak")
    so.add_argument("--thread", action="append", required=True)
    so.add_argument("--prefix", default="user")
    so.add_argument("--count", type=int, default=-1, help=argparse.SUPPRESS)
    so.add_argument("--wait-go", action="store_true", help=argparse.SUPPRESS)


def dispatch(service: ChatService, args: argparse.Namespace) -> int | None:
    """Run one of this module's commands; None when ``args`` names another."""
    cmd = args.command
    if cmd == "discard":
        return cmd_discard(service, args.thread)
    if cmd == "recover":
        return cmd_recover(service)
    if cmd == "prune":
        return cmd_prune(service, args)
    if cmd == "soak":
        return cmd_soak(service, args)
    if cmd == "reindex":
        return cmd_reindex(service)
    if cmd == "upgrade-storage":
        return cmd_upgrade_storage(service)
    return None
