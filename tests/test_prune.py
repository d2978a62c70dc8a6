"""Growth (issue 4, item 5): retention policy, `chat-app prune`, VACUUM, sizes."""

from __future__ import annotations

import os
import random
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from chat_app.config import RetentionSettings
from chat_app.service import ChatService
from chat_app.service.events import History
from chat_app.storage.sqlite import maintenance as mt
from chat_app.storage.sqlite.backend import SqliteBackend
from tests.conftest import chat

USER = "pruner"


def filler(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters) for _ in range(n))


def build_branched(svc: ChatService, tail_text: int = 0) -> tuple[str, dict[str, str]]:
    """Branch A (oldest, 10 turns), B (forked at turn 3), head C (forked from B)."""
    t = svc.create_thread("branched").id
    for i in range(10):
        chat(svc, t, f"a{i} {filler(tail_text, i)}" if tail_text and i >= 3 else f"a{i}")
    leaf_a = svc.history(t).head_id
    tl = svc.branch_timeline(t)
    svc.rewind(t, next(c.id for c in tl if c.summary.startswith("you: a3")))
    for i in range(4):
        chat(svc, t, f"b{i}")
    leaf_b = svc.history(t).head_id
    tl = svc.branch_timeline(t)
    svc.rewind(t, next(c.id for c in tl if c.summary.startswith("you: b2")))
    for i in range(3):
        chat(svc, t, f"c{i}")
    assert leaf_a and leaf_b
    return t, {"a": leaf_a, "b": leaf_b}


def branch_owned(hist: History, leaf: str) -> set[str]:
    """The checkpoints only the branch ending at ``leaf`` holds (up to the current branch)."""
    current = set(hist.branch_ids)
    parent = {c.id: c.parent_id for c in hist.checkpoints}
    out: set[str] = set()
    cur: str | None = leaf
    while cur is not None and cur not in current:
        out.add(cur)
        cur = parent[cur]
    return out


def test_policy_keeps_current_branch_exact_and_drops_old_branches(
    service_factory: Callable[..., ChatService],
) -> None:
    svc = service_factory(user={"id": USER})
    t, leaves = build_branched(svc)
    assert isinstance(svc.backend, SqliteBackend)
    conn = svc.backend.app_conn
    head_msgs = svc.load_messages(t)
    branch_b = svc.load_messages(t, leaves["b"])
    hist = svc.history(t)
    current = set(hist.branch_ids)

    # Generous policy: nothing goes.
    assert mt.plan_thread(conn, t, RetentionSettings(1000, 90)).checkpoints == 0
    # A budget that fits only the newest abandoned branch (B): A goes.
    budget = len(branch_owned(hist, leaves["b"]))
    plan = mt.plan_thread(conn, t, RetentionSettings(budget, 90))
    assert set(plan.ids) == branch_owned(hist, leaves["a"]) - branch_owned(hist, leaves["b"])
    assert plan.branches == 1 and plan.bytes > 0
    assert not set(plan.ids) & current
    mt.delete_checkpoints(conn, t, plan.ids)
    assert svc.load_messages(t) == head_msgs
    assert svc.load_messages(t, leaves["b"]) == branch_b
    assert leaves["a"] not in {c.id for c in svc.history(t).checkpoints}
    # Older than D days (0 here): every abandoned branch goes, the head stays.
    plan = mt.plan_thread(conn, t, RetentionSettings(1000, 0))
    assert set(plan.ids) == branch_owned(hist, leaves["b"])
    mt.delete_checkpoints(conn, t, plan.ids)
    mt.vacuum(conn)
    hist = svc.history(t)
    assert {c.id for c in hist.checkpoints} == current
    assert svc.load_messages(t) == head_msgs
    assert [m.text for m in head_msgs][::2] == ["a0", "a1", "a2", "b0", "b1", "c0", "c1", "c2"]
    # The timeline and the notes still match the kept checkpoints; the thread continues.
    notes = conn.execute("SELECT checkpoint_id FROM app_notes WHERE thread_id = ?", (t,))
    assert {r[0] for r in notes} <= current
    chat(svc, t, "after prune")
    assert [m.text for m in svc.load_messages(t)][-2] == "after prune"
    assert mt.plan_thread(conn, t, RetentionSettings(0, 0)).checkpoints == 0


def run(data_dir: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(
        CHAT_APP_DATA_DIR=str(data_dir),
        CHAT_APP_USER=USER,
        XDG_CONFIG_HOME=str(data_dir.parent / "xdg-config"),
        **env_extra,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "chat_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_prune_command_dry_run_then_vacuum_shrinks_the_file(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data, user={"id": USER})
    t, _ = build_branched(svc, tail_text=20_000)
    head_msgs = svc.load_messages(t)
    n_before = len(svc.history(t).checkpoints)
    svc.close()
    db = data / "chat.db"
    policy = {"CHAT_APP_RETENTION_DROP_BRANCHES_OLDER_THAN_DAYS": "0"}

    dry = run(data, "prune", "--dry-run", **policy)
    assert f"thread {t}: would drop" in dry.stdout and "nothing was changed" in dry.stdout
    svc = service_factory(data, user={"id": USER})
    assert len(svc.history(t).checkpoints) == n_before
    svc.close()

    size_before = mt.db_file_bytes(db)
    out = run(data, "prune", "--thread", t, **policy)
    assert f"thread {t}: dropped" in out.stdout and "after VACUUM" in out.stdout
    size_after = mt.db_file_bytes(db)
    assert size_after < size_before * 0.7, (size_before, size_after)
    svc = service_factory(data, user={"id": USER})
    assert svc.load_messages(t) == head_msgs
    assert len(svc.history(t).checkpoints) < n_before

    doctor = run(data, "doctor")
    line = next(x for x in doctor.stdout.splitlines() if "storage:" in x)
    assert t[:8] in line and "checkpoints" in line


def test_thread_sizes_add_up(service_factory: Callable[..., ChatService]) -> None:
    svc = service_factory(user={"id": USER})
    small = svc.create_thread().id
    big = svc.create_thread().id
    chat(svc, small, "hi")
    for i in range(5):
        chat(svc, big, filler(5000, i))
    assert isinstance(svc.backend, SqliteBackend)
    sizes = mt.thread_sizes(svc.backend.app_conn)
    assert [s.thread_id for s in sizes] == [big, small]
    assert sizes[0].bytes > 5 * 2000 > sizes[1].bytes
