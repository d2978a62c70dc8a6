"""Crash harness: SIGKILL a real `chat-app` process at random moments, check every time.

    python -m tests.reliability.crash_harness --kills 200

Each round spawns ``python -m chat_app soak`` (the real CLI, real SQLite file,
offline model streaming with a small token delay so kills land mid-reply),
waits for ``READY`` (database open; the start-up recovery runs right after,
so kills also land during a resume), lets it run for U(0, 600 ms) while it
sends ``user n`` turns (alternating between two threads, so recovery must
scan every thread, not only the one it is about to use) and prints
``ACK n`` after each send returns, then kills it with SIGKILL. After every
kill it checks, from the database alone:

* ``PRAGMA integrity_check`` is ok;
* every ACKed ``user n`` is on the current branch of its thread exactly once,
  followed by a complete reply (never a stopped or partial one);
* no turn number is duplicated or skipped (the child derives the next number
  from durable state, never from memory);
* no reply is duplicated (two assistant messages in a row);
* no user message is left without a reply, except the one turn that was in
  flight when the process died (it must be resumed by the next start: if it
  is not, a later turn makes it an orphan and the check fails).

After the last kill, one more start with ``--count 0`` (recovery only) must
leave nothing pending at all. Prints one summary line:

    kills=200 turns=N acked=N resumed=R lost=0 duplicated=0 gaps=0 orphaned=0 integrity=ok 200/200
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

THREADS = ("thread-a", "thread-b")
TURN = re.compile(r"^user (\d+)$")
READY_TIMEOUT_S = 90.0


@dataclass
class Tally:
    kills: int = 0
    acked: set[int] = field(default_factory=set)
    resumed: int = 0
    integrity_ok: int = 0
    lost: set[int] = field(default_factory=set)
    duplicated: int = 0
    gaps: int = 0
    orphaned: int = 0
    failures: list[str] = field(default_factory=list)
    turns: int = 0

    @property
    def clean(self) -> bool:
        return (
            not self.lost
            and not self.duplicated
            and not self.gaps
            and not self.orphaned
            and self.integrity_ok == self.kills
            and not self.failures
        )

    def summary(self) -> str:
        integ = "ok" if self.integrity_ok == self.kills else "FAIL"
        line = (
            f"kills={self.kills} turns={self.turns} acked={len(self.acked)}"
            f" resumed={self.resumed} lost={len(self.lost)} duplicated={self.duplicated}"
            f" gaps={self.gaps} orphaned={self.orphaned}"
            f" integrity={integ} {self.integrity_ok}/{self.kills}"
        )
        if self.failures:
            line += f" failures={len(self.failures)}"
        return line


def child_env(data_dir: Path, token_delay_ms: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(
        CHAT_APP_DATA_DIR=str(data_dir),
        CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS=str(token_delay_ms),
        CHAT_APP_USER="crash",
        XDG_CONFIG_HOME=str(data_dir.parent / "xdg-config"),
        PYTHONUNBUFFERED="1",
    )
    return env


class Child:
    """One `chat-app soak` process and the lines it printed."""

    def __init__(self, data_dir: Path, token_delay_ms: float, count: int = -1) -> None:
        args = [sys.executable, "-m", "chat_app", "soak", "--count", str(count), "--wait-go"]
        for t in THREADS:
            args += ["--thread", t]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(data_dir, token_delay_ms),
            cwd=Path(__file__).resolve().parents[2],
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def go(self) -> bool:
        """Wait until the process has the database open, then let it start."""
        if not self.wait_for("OPEN", READY_TIMEOUT_S):
            return False
        assert self.proc.stdin is not None
        self.proc.stdin.write("GO\n")
        self.proc.stdin.flush()
        return self.wait_for("READY", READY_TIMEOUT_S)

    def wait_for(self, prefix: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return False
            if line is None:
                return False
            self.seen.append(line)
            if line.startswith(prefix):
                return True

    def kill_after(self, delay_s: float) -> None:
        self.wait_for("\0never", delay_s)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.finish()

    def finish(self, timeout_s: float = 60.0) -> None:
        self.proc.wait(timeout=timeout_s)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        while True:
            line = self.lines.get(timeout=timeout_s)
            if line is None:
                break
            self.seen.append(line)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:3])


class Inspector:
    """Reads the threads' current branches with the app's own graph (read only)."""

    def __init__(self, data_dir: Path) -> None:
        os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
        from chat_app.config import load_settings
        from chat_app.service import ChatService

        settings = load_settings(
            None,
            env={},
            overrides={"storage": {"data_dir": str(data_dir)}, "user": {"id": "crash"}},
            use_user_config=False,
        )
        self.service = ChatService(settings)

    def close(self) -> None:
        self.service.close()

    def heads(self) -> dict[str, tuple[list[Any], bool]]:
        """Per thread: the messages on the current branch, and whether a run is pending."""
        out = {}
        for t in THREADS:
            snap = self.service.graph.get_state({"configurable": {"thread_id": t}})
            msgs = list((snap.values or {}).get("messages", []))
            out[t] = (msgs, bool(snap.next or snap.tasks))
        return out


def check(tally: Tally, inspector: Inspector, final: bool) -> list[str]:
    """Check the durable state; return what is wrong (also counted in ``tally``)."""
    from langchain_core.messages import AIMessage, HumanMessage

    problems: list[str] = []
    seen: dict[int, int] = {}
    unanswered: list[int] = []
    for thread, (msgs, pending) in inspector.heads().items():
        for i, m in enumerate(msgs):
            if isinstance(m, HumanMessage):
                hit = TURN.match(str(m.content))
                if not hit:
                    problems.append(f"{thread}: unexpected user message {m.content!r}")
                    continue
                n = int(hit.group(1))
                seen[n] = seen.get(n, 0) + 1
                if THREADS[n % len(THREADS)] != thread:
                    problems.append(f"turn {n} is in the wrong thread {thread}")
                nxt = msgs[i + 1] if i + 1 < len(msgs) else None
                complete = (
                    isinstance(nxt, AIMessage)
                    and not nxt.additional_kwargs.get("status")
                    and bool(nxt.content)
                )
                if not complete:
                    unanswered.append(n)
            elif isinstance(m, AIMessage):
                if i == 0 or not isinstance(msgs[i - 1], HumanMessage):
                    tally.duplicated += 1
                    problems.append(f"{thread}: reply at {i} does not follow a user message")
        if final and pending:
            problems.append(f"{thread}: a run is still pending after the final recovery")
    dups = {n: c for n, c in seen.items() if c > 1}
    if dups:
        tally.duplicated += sum(c - 1 for c in dups.values())
        problems.append(f"duplicated turns {sorted(dups)[:5]}")
    top = max(seen, default=-1)
    missing = [n for n in range(top + 1) if n not in seen]
    if missing:
        tally.gaps += len(missing)
        problems.append(f"gaps at turns {missing[:5]}")
    lost = sorted(n for n in tally.acked if n not in seen)
    if lost:
        tally.lost.update(lost)
        problems.append(f"ACKed turns lost {lost[:5]}")
    # The one turn in flight at the kill may be unanswered until the next start.
    orphans = [n for n in unanswered if final or n != top]
    acked_unanswered = [n for n in unanswered if n in tally.acked]
    if orphans:
        tally.orphaned += len(orphans)
        problems.append(f"user messages without a reply {orphans[:5]}")
    if acked_unanswered:
        tally.lost.update(acked_unanswered)
        problems.append(f"ACKed turns without their reply {acked_unanswered[:5]}")
    tally.turns = len(seen)
    return problems


def _absorb(tally: Tally, child: Child) -> None:
    for line in child.seen:
        if line.startswith("ACK "):
            tally.acked.add(int(line.split()[1]))
        elif line.startswith("RESUMED "):
            tally.resumed += 1
        elif line.startswith(("FAILED", "RESUME-FAILED")):
            tally.failures.append(line)


def run(
    kills: int,
    *,
    data_dir: Path | None = None,
    seed: int | None = None,
    token_delay_ms: float = 2.0,
    max_delay_s: float = 0.6,
    verbose: bool = False,
) -> Tally:
    rng = random.Random(seed)
    owned = None
    if data_dir is None:
        owned = tempfile.TemporaryDirectory(prefix="crash-harness-")
        data_dir = Path(owned.name) / "data"
    db = data_dir / "chat.db"
    tally = Tally()
    inspector: Inspector | None = None
    try:
        child = Child(data_dir, token_delay_ms)
        for k in range(kills):
            if not child.go():
                child.proc.kill()
                child.finish()
                raise RuntimeError(f"child never became ready: {child.stderr()[-500:]}")
            child.kill_after(rng.uniform(0, max_delay_s))
            tally.kills += 1
            _absorb(tally, child)
            if child.proc.returncode != -signal.SIGKILL:
                tally.failures.append(f"kill {k}: child exited {child.proc.returncode}")
            # The next process starts (imports, opens the database) while this
            # one's leftovers are checked; it writes nothing before GO.
            child = Child(data_dir, token_delay_ms, count=-1 if k + 1 < kills else 0)
            result = integrity(db)
            if result == "ok":
                tally.integrity_ok += 1
            if inspector is None:
                inspector = Inspector(data_dir)
            problems = check(tally, inspector, final=False)
            if result != "ok":
                problems.append(f"integrity_check: {result}")
            if verbose or problems:
                print(f"kill {k + 1}: {tally.summary()} {'; '.join(problems)}", file=sys.stderr)
        # One last start that only recovers: nothing may stay pending or orphaned.
        final = child
        if not final.go():
            raise RuntimeError(f"final recovery never started: {final.stderr()[-500:]}")
        final.finish(timeout_s=120)
        _absorb(tally, final)
        if final.proc.returncode != 0:
            tally.failures.append(f"final recovery exited {final.proc.returncode}")
        if inspector is None:
            inspector = Inspector(data_dir)
        problems = check(tally, inspector, final=True)
        if integrity(db) != "ok":
            problems.append("final integrity_check failed")
            tally.integrity_ok -= 1
        if problems:
            print(f"final: {'; '.join(problems)}", file=sys.stderr)
        return tally
    finally:
        if inspector is not None:
            inspector.close()
        if owned is not None:
            owned.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=200)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--data-dir", type=Path, default=None, help="keep the database here")
    p.add_argument("--token-delay-ms", type=float, default=2.0)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    tally = run(
        args.kills,
        data_dir=args.data_dir,
        seed=args.seed,
        token_delay_ms=args.token_delay_ms,
        verbose=args.verbose,
    )
    print(tally.summary())
    return 0 if tally.clean else 1


if __name__ == "__main__":
    sys.exit(main())
