"""PostgreSQL parity for upkeep and recovery: prune, doctor, storage errors
mid-reply, and resume after a real process is SIGKILLed mid-reply."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chat_app.config import RetentionSettings
from chat_app.service import ChatService
from chat_app.service.events import ReplyFailed, ReplyFinished, Token
from chat_app.storage import upkeep as mt
from chat_app.storage.postgres.backend import PgBackend
from tests.conftest import chat, make_settings
from tests.services.conftest import ROOT, free_port
from tests.test_crash_recovery import interrupted_run, resumed_once
from tests.test_prune import branch_owned, build_branched

pytestmark = pytest.mark.services

Make = Callable[..., ChatService]
USER = "pruner"


def pg_service(make_service: Make, dsn: str, **kw: Any) -> ChatService:
    return make_service("postgres", dsn=dsn, user=USER, **kw)


def count(svc: ChatService, sql: str, *args: Any) -> int:
    assert isinstance(svc.backend, PgBackend)
    with svc.backend.pool.connection() as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(next(iter(row.values())))


def blob_refs(svc: ChatService, t: str) -> set[tuple[str, str, str]]:
    """(checkpoint, channel, version) of every blob a checkpoint of ``t`` names."""
    assert isinstance(svc.backend, PgBackend)
    with svc.backend.pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.checkpoint_id, v.key, v.value FROM checkpoints c"
            " CROSS JOIN LATERAL jsonb_each_text(c.checkpoint -> 'channel_versions') v"
            " JOIN checkpoint_blobs b ON b.thread_id = c.thread_id AND b.checkpoint_ns = ''"
            " AND b.channel = v.key AND b.version = v.value"
            " WHERE c.thread_id = %s AND c.checkpoint_ns = ''",
            (t,),
        ).fetchall()
    return {(r["checkpoint_id"], r["key"], r["value"]) for r in rows}


def cli(
    tmp: Path,
    dsn: str,
    *args: str,
    check: bool = True,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(
        CHAT_APP_STORAGE_BACKEND="postgres",
        CHAT_APP_STORAGE_DSN=dsn,
        CHAT_APP_DATA_DIR=str(tmp / "data"),
        CHAT_APP_USER=USER,
        CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS="0",
        CHAT_APP_MODEL_BACKOFF_INITIAL_S="0.05",
        XDG_CONFIG_HOME=str(tmp / "xdg-config"),
        PYTHONPATH=str(ROOT),
    )
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-m", "chat_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_prune_on_postgres_keeps_every_kept_checkpoint_exact(
    make_service: Make, pg_dsn: str
) -> None:
    svc = pg_service(make_service, pg_dsn)
    t, leaves = build_branched(svc)
    upkeep = mt.upkeep_for(svc.backend)
    assert not upkeep.compacts
    hist = svc.history(t)
    current = set(hist.branch_ids)
    # Every checkpoint's messages, before anything is deleted.
    before = {c.id: svc.load_messages(t, c.id) for c in hist.checkpoints}
    head_msgs = svc.load_messages(t)
    blobs_before = count(svc, "SELECT count(*) FROM checkpoint_blobs WHERE thread_id = %s", t)
    refs_before = blob_refs(svc, t)

    assert mt.plan_thread(upkeep, t, RetentionSettings(1000, 90)).checkpoints == 0
    budget = len(branch_owned(hist, leaves["b"]))
    plan = mt.plan_thread(upkeep, t, RetentionSettings(budget, 90))
    assert set(plan.ids) == branch_owned(hist, leaves["a"]) - branch_owned(hist, leaves["b"])
    assert plan.branches == 1 and plan.bytes > 0
    upkeep.delete(t, plan.ids)
    kept = {c.id for c in svc.history(t).checkpoints}
    assert kept == set(before) - set(plan.ids)
    for cid in kept:
        assert svc.load_messages(t, cid) == before[cid], cid
    assert svc.load_messages(t) == head_msgs

    # Every abandoned branch goes; the current branch reads exactly as before.
    plan = mt.plan_thread(upkeep, t, RetentionSettings(1000, 0))
    assert set(plan.ids) == branch_owned(hist, leaves["b"])
    upkeep.delete(t, plan.ids)
    assert {c.id for c in svc.history(t).checkpoints} == current
    for cid in current:
        assert svc.load_messages(t, cid) == before[cid], cid
    assert svc.load_messages(t) == head_msgs
    assert [m.text for m in head_msgs][::2] == ["a0", "a1", "a2", "b0", "b1", "c0", "c1", "c2"]
    # Blobs only the dropped checkpoints named are gone; no kept one lost its own.
    assert count(svc, "SELECT count(*) FROM checkpoint_blobs WHERE thread_id = %s", t) < (
        blobs_before
    )
    assert blob_refs(svc, t) == {r for r in refs_before if r[0] in current}
    assert count(svc, "SELECT count(*) FROM checkpoint_writes WHERE thread_id = %s", t) > 0
    assert (
        count(
            svc,
            "SELECT count(*) FROM app_notes WHERE thread_id = %s"
            " AND checkpoint_id NOT IN (SELECT checkpoint_id FROM checkpoints"
            " WHERE thread_id = %s)",
            t,
            t,
        )
        == 0
    )
    chat(svc, t, "after prune")
    assert [m.text for m in svc.load_messages(t)][-2] == "after prune"
    # A fresh instance (no cache) reads the same thread.
    again = pg_service(make_service, pg_dsn)
    assert [m.text for m in again.load_messages(t)][:-2] == [m.text for m in head_msgs]
    assert mt.plan_thread(upkeep, t, RetentionSettings(0, 0)).checkpoints == 0


def test_prune_command_and_doctor_on_postgres(
    tmp_path: Path, make_service: Make, pg_dsn: str
) -> None:
    svc = pg_service(make_service, pg_dsn)
    t, _ = build_branched(svc, tail_text=2_000)
    small = svc.create_thread("small").id
    chat(svc, small, "hi")
    head_msgs = svc.load_messages(t)
    n_before = len(svc.history(t).checkpoints)
    sizes = mt.upkeep_for(svc.backend).sizes()
    assert [s.thread_id for s in sizes] == [t, small] and sizes[0].bytes > 10 * 2_000
    policy = {"CHAT_APP_RETENTION_DROP_BRANCHES_OLDER_THAN_DAYS": "0"}

    dry = cli(tmp_path, pg_dsn, "prune", "--dry-run", env_extra=policy)
    assert f"thread {t}: would drop" in dry.stdout and "nothing was changed" in dry.stdout
    assert len(svc.history(t).checkpoints) == n_before
    out = cli(tmp_path, pg_dsn, "prune", "--thread", t, env_extra=policy)
    assert f"thread {t}: dropped" in out.stdout
    assert "no VACUUM needed on PostgreSQL" in out.stdout
    assert len(svc.history(t).checkpoints) < n_before
    fresh = pg_service(make_service, pg_dsn)
    assert fresh.load_messages(t) == head_msgs

    from chat_app.doctor import run_doctor

    def load(warnings: list[str]) -> Any:
        return make_settings(
            tmp_path / "data", storage={"backend": "postgres", "dsn": pg_dsn}, user={"id": USER}
        )

    buf = io.StringIO()
    assert run_doctor(load, out=buf) == 0, buf.getvalue()
    lines = buf.getvalue().splitlines()
    assert any(x.startswith("OK    postgres: connected to postgresql://") for x in lines)
    assert any(x.startswith("OK    postgres:") and "server version" in x for x in lines)
    assert any(x.startswith("OK    tables: all") for x in lines)
    assert "OK    interrupted replies: none" in lines
    storage = next(x for x in lines if x.startswith("OK    storage:"))
    assert t[:8] in storage and "2 threads" in storage
    table = [x for x in lines if x.startswith("      ")]
    assert "thread" in table[0] and table[1].split()[0] == t and table[2].split()[0] == small
    assert lines[-1] == "healthy"

    # Nothing listens on this port: one FAIL line, no traceback.
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    buf = io.StringIO()
    assert (
        run_doctor(
            lambda w: make_settings(
                tmp_path / "data", storage={"backend": "postgres", "dsn": dead}
            ),
            out=buf,
        )
        == 1
    )
    fails = [x for x in buf.getvalue().splitlines() if x.startswith("FAIL")]
    assert len(fails) == 1 and "cannot connect to postgresql://" in fails[0]
    assert "is the server running?" in fails[0]


def cut_the_writer(dsn: str) -> None:
    """The server drops the app's sessions while it is saving the reply: the
    checkpoint tables are locked until a write waits on them, then every other
    session of the database is terminated (as in a crash or a failover)."""
    import psycopg

    with psycopg.connect(dsn) as admin:
        admin.execute(
            "LOCK TABLE checkpoints, checkpoint_blobs, checkpoint_writes IN EXCLUSIVE MODE"
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            waiting = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone()
            if waiting and waiting[0]:
                break
            time.sleep(0.01)
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        admin.rollback()


def test_storage_error_mid_reply_is_one_clear_line(make_service: Make, pg_dsn: str) -> None:
    svc = pg_service(make_service, pg_dsn, model={"offline_token_delay_ms": 1, "max_attempts": 1})
    t = svc.create_thread().id
    chat(svc, t, "hello")
    assert isinstance(svc.backend, PgBackend)
    pool = svc.backend.pool
    held = [pool.getconn() for _ in range(4)]  # several idle connections to go stale
    for conn in held:
        pool.putconn(conn)
    outage = threading.Thread(target=cut_the_writer, args=(pg_dsn,))
    events = []
    for ev in svc.send(t, "tell me more"):
        events.append(ev)
        if isinstance(ev, Token) and not outage.is_alive() and outage.ident is None:
            outage.start()
    outage.join(timeout=20)
    failed = [e for e in events if isinstance(e, ReplyFailed)]
    assert len(failed) == 1, events
    reason = failed[0].reason
    assert failed[0].can_retry
    assert reason.startswith("postgresql://") and "lost the connection to PostgreSQL" in reason
    assert "\n" not in reason and "Traceback" not in reason
    assert not [e for e in events if isinstance(e, ReplyFinished)]
    # The pool replaces its dead connections instead of failing once per connection.
    for _ in range(6):
        assert svc.index.get(USER, t) is not None
    # The server is back (it never left): the message is there once, and the
    # interrupted reply finishes with exactly one reply.
    msgs = svc.load_messages(t)
    assert [m.text for m in msgs].count("tell me more") == 1
    pending = svc.pending_runs()
    assert [p.thread_id for p in pending] == [t] and pending[0].user_text == "tell me more"
    finished = [e for e in svc.resume(t) if isinstance(e, ReplyFinished)]
    assert len(finished) == 1
    roles = [m.role for m in svc.load_messages(t)]
    assert roles == ["user", "assistant"] * 2
    assert [m.text for m in svc.load_messages(t)].count("tell me more") == 1


def test_resume_after_sigkill_mid_reply_on_postgres(
    tmp_path: Path, make_service: Make, pg_dsn: str
) -> None:
    first = cli(tmp_path, pg_dsn, "send", "--new", "hello")
    thread = first.stderr.strip().splitlines()[-1]
    crashed = cli(
        tmp_path,
        pg_dsn,
        "send",
        "--thread",
        thread,
        "tell me about crashes",
        check=False,
        env_extra={
            "CHAT_APP_CHAOS_KILL_AFTER_TOKENS": "30",
            "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": "25",
        },
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    svc = pg_service(make_service, pg_dsn)
    run_ = interrupted_run(svc, thread, "tell me about crashes")
    # The killed holder's advisory lock went with its session.
    lock = svc.backend.lock(thread)
    assert lock.try_acquire()
    lock.release()
    svc.close()

    out = cli(tmp_path, pg_dsn, "resume", thread)
    assert out.stdout.startswith(run_.partial)
    resumed_once(cli(tmp_path, pg_dsn, "export", thread, "--format", "json").stdout, run_)
    svc = pg_service(make_service, pg_dsn)
    assert svc.pending_runs() == []
    assert svc.index.partial(thread) == ""
    assert not svc.get_thread(thread).interrupted
    assert cli(tmp_path, pg_dsn, "recover").stdout.strip() == (
        "nothing to recover: every reply finished"
    )
