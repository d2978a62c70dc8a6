"""Crash mid-reply (issue 4, item 1), with real processes killed by SIGKILL.

The `--chaos kill=N` flag makes the offline model SIGKILL its own process
after N tokens of a reply, exactly what a presenter uses in the demo.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.service import ChatService, PendingRun

CLI = [sys.executable, "-m", "chat_app"]
USER = "crashtest"


def run(
    data_dir: Path, *args: str, delay_ms: int = 0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env["CHAT_APP_DATA_DIR"] = str(data_dir)
    env["CHAT_APP_MODEL_BACKOFF_INITIAL_S"] = "0.05"
    env["CHAT_APP_USER"] = USER
    env["CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS"] = str(delay_ms)
    env["XDG_CONFIG_HOME"] = str(data_dir.parent / "xdg-config")
    proc = subprocess.run(CLI + list(args), capture_output=True, text=True, env=env, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}): {proc.stderr}")
    return proc


def new_thread(data_dir: Path, text: str = "hello") -> str:
    return run(data_dir, "send", "--new", text).stderr.strip().splitlines()[-1]


def crash_mid_reply(data_dir: Path, thread: str, text: str, kill_after: int = 30) -> None:
    """Send ``text`` and let the process SIGKILL itself ``kill_after`` tokens into the reply."""
    proc = run(
        data_dir,
        "--chaos",
        f"kill={kill_after}",
        "send",
        "--thread",
        thread,
        text,
        delay_ms=25,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def open_service(factory: Callable[..., ChatService], data_dir: Path) -> ChatService:
    return factory(data_dir, user={"id": USER})


def interrupted_run(svc: ChatService, thread: str, text: str) -> PendingRun:
    """After a kill mid-reply: the one interrupted run, its message kept, its
    streamed-so-far text journaled aside (never saved as a message)."""
    pending = svc.pending_runs()
    assert [p.thread_id for p in pending] == [thread]
    run_ = pending[0]
    assert run_.user_text == text
    assert run_.partial.startswith(f"You said: “{text}”")
    assert [m.role for m in svc.load_messages(thread)] == ["user", "assistant", "user"]
    assert svc.get_thread(thread).interrupted
    return run_


def resumed_once(export_json: str, run_: PendingRun) -> None:
    """The exported thread after a resume: one complete reply, no half one."""
    shown = json.loads(export_json)["messages"]
    assert [m["role"] for m in shown] == ["user", "assistant", "user", "assistant"]
    assert [m["text"] for m in shown].count(run_.user_text) == 1
    assert shown[-1]["text"].startswith(run_.partial) and shown[-1]["status"] == ""


def test_partial_reply_is_kept_and_resume_gives_exactly_one_reply(
    data_dir: Path, service_factory: Callable[..., ChatService]
) -> None:
    thread = new_thread(data_dir)
    crash_mid_reply(data_dir, thread, "tell me about crashes")

    svc = open_service(service_factory, data_dir)
    run_ = interrupted_run(svc, thread, "tell me about crashes")
    svc.close()

    out = run(data_dir, "resume", thread)
    assert out.stdout.startswith(run_.partial)
    resumed_once(run(data_dir, "export", thread, "--format", "json").stdout, run_)
    svc = open_service(service_factory, data_dir)
    assert svc.pending_runs() == []
    assert svc.index.partial(thread) == ""
    assert not svc.get_thread(thread).interrupted


def test_send_to_an_interrupted_thread_says_resume_or_discard(data_dir: Path) -> None:
    thread = new_thread(data_dir)
    crash_mid_reply(data_dir, thread, "first try", kill_after=3)
    out = run(data_dir, "recover")
    assert out.stdout.strip() == (
        f"thread {thread} has an interrupted reply; run `chat-app resume {thread}`"
        f" or `chat-app discard {thread}`"
    )
    refused = run(data_dir, "send", "--thread", thread, "next message", check=False)
    assert refused.returncode == 1
    err = refused.stderr.strip().splitlines()
    assert err[-1] == (
        f"chat-app: the last reply in thread {thread} did not finish; run"
        f" `chat-app resume {thread}` or `chat-app discard {thread}` first"
        " (or send with --auto-resume)"
    )
    assert "Traceback" not in refused.stderr
    # Nothing was sent.
    assert "next message" not in run(data_dir, "show", thread).stdout

    run(data_dir, "discard", thread)
    run(data_dir, "send", "--thread", thread, "after discard")
    shown = run(data_dir, "show", thread).stdout
    assert "after discard" in shown and "first try" not in shown


def test_auto_resume_setting_sources(tmp_path: Path) -> None:
    from chat_app.cli import _parser, _settings
    from chat_app.config import load_settings

    env = {"CHAT_APP_RECOVERY_AUTO_RESUME": "1"}
    assert load_settings(None, env=env, use_user_config=False).recovery.auto_resume
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[recovery]\nauto_resume = true\n")
    assert load_settings(str(cfg), env={}, use_user_config=False).recovery.auto_resume
    assert not load_settings(None, env={}, use_user_config=False).recovery.auto_resume
    args = _parser().parse_args(["--auto-resume", "--chaos", "fail=2,drop=5,kill=40", "threads"])
    s = _settings(args, [])
    assert s.recovery.auto_resume
    assert (s.chaos.fail_next, s.chaos.drop_stream_after, s.chaos.kill_after_tokens) == (2, 5, 40)


def test_auto_resume_finishes_every_interrupted_reply_before_sending(
    data_dir: Path, service_factory: Callable[..., ChatService]
) -> None:
    a = new_thread(data_dir, "thread a")
    b = new_thread(data_dir, "thread b")
    crash_mid_reply(data_dir, a, "question a", kill_after=3)
    crash_mid_reply(data_dir, b, "question b", kill_after=3)
    out = run(data_dir, "--auto-resume", "send", "--thread", b, "next b")
    assert f"resumed the interrupted reply in thread {a}" in out.stderr
    assert f"resumed the interrupted reply in thread {b}" in out.stderr
    svc = open_service(service_factory, data_dir)
    for t, q in ((a, "question a"), (b, "question b")):
        msgs = svc.load_messages(t)
        texts = [m.text for m in msgs]
        assert texts.count(q) == 1
        i = texts.index(q)
        assert msgs[i + 1].role == "assistant" and msgs[i + 1].text.startswith("You said")
    assert [m.role for m in svc.load_messages(b)] == ["user", "assistant"] * 3
    assert svc.pending_runs() == []


def test_startup_recovery_scans_all_threads(
    data_dir: Path, service_factory: Callable[..., ChatService]
) -> None:
    """T3: killed while thread A was mid-turn; the next start opens thread B."""
    a = new_thread(data_dir, "thread a")
    crash_mid_reply(data_dir, a, "question a", kill_after=2)
    # Another user's interrupted thread is flagged, never resumed as us.
    other = run(data_dir, "--user", "someone", "send", "--new", "hi").stderr.split()[-1]
    crash_mid_reply_other = run(
        data_dir,
        "--user",
        "someone",
        "--chaos",
        "kill=2",
        "send",
        "--thread",
        other,
        "theirs",
        delay_ms=25,
        check=False,
    )
    assert crash_mid_reply_other.returncode == -signal.SIGKILL

    t0 = time.monotonic()
    svc = open_service(service_factory, data_dir)
    report = svc.recover(resume=False)
    took = time.monotonic() - t0
    assert report.interrupted == [a] and report.other_users == 1
    assert took < 1.0, took
    b = svc.create_thread("thread b").id
    assert [t.id for t in svc.list_threads() if t.interrupted] == [a]

    report = svc.recover(resume=True)
    assert report.resumed == [a] and report.failed == []
    assert [m.role for m in svc.load_messages(a)] == ["user", "assistant"] * 2
    assert svc.list_threads(query="") and not any(t.interrupted for t in svc.list_threads())
    assert b in {t.id for t in svc.list_threads()}
    # The other user's thread stays flagged for them.
    assert svc.index.running() == [other]
    svc_other = service_factory(data_dir, user={"id": "someone"})
    assert [p.thread_id for p in svc_other.pending_runs()] == [other]


def test_stale_running_flag_is_cleared(service: ChatService) -> None:
    from tests.conftest import chat

    a = service.create_thread().id
    chat(service, a, "hello")
    # Killed after the flag was set but before the message was saved.
    service.index.set_run_state(a, "running")
    assert service.get_thread(a).interrupted
    report = service.recover(resume=True)
    assert report.cleared == [a] and report.resumed == [] and report.interrupted == []
    assert not service.get_thread(a).interrupted
    chat(service, a, "next")
    assert len(service.load_messages(a)) == 4


def test_chaos_flag_fail_and_drop_show_retries(data_dir: Path) -> None:
    out = run(data_dir, "--chaos", "fail=2", "send", "--new", "hello", check=False)
    # Two simulated outages, each retried (the backoff is the configured one).
    assert out.stderr.count("retrying") == 2, out.stderr
    assert out.returncode == 0 and "offline model" in out.stdout
    out = run(data_dir, "--chaos", "drop=3", "send", "--new", "hello")
    assert "the reply stream was interrupted; retrying 2/5" in out.stderr
    bad = run(data_dir, "--chaos", "explode=1", "threads", check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--chaos" in bad.stderr
