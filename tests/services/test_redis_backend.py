"""The redis backend on the Redis 8 test server: what only it does (the lease
that stands for the writer lock, refusing a server without JSON and search),
and the flows that need real processes: a reply killed mid-way then resumed,
two instances writing one thread, any user id.

The parity flows (threads, search, rewind and fork, users, one writer) run on
it with the other backends in test_pg_parity.py and test_branch_choice.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_app.service import ChatService
from chat_app.storage.errors import StorageError
from tests.conftest import chat
from tests.redis8 import require_redis_checkpoint
from tests.services.conftest import REDIS_HOST, REDIS_PORT, ROOT, require_redis
from tests.test_user_ids import LOOKALIKES, USER_IDS

pytestmark = pytest.mark.services

Make = Callable[..., ChatService]


@pytest.fixture
def url(redis8: Any, redis8_url: str) -> str:
    """The Redis 8 test server, emptied for this test."""
    require_redis_checkpoint()
    return redis8_url


def cli_env(url: str, data_dir: Path, user: str = "alice", delay_ms: int = 0) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(
        {
            "CHAT_APP_STORAGE_BACKEND": "redis",
            "CHAT_APP_STORAGE_REDIS_URL": url,
            "CHAT_APP_DATA_DIR": str(data_dir),
            "CHAT_APP_USER": user,
            "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": str(delay_ms),
            "CHAT_APP_MODEL_BACKOFF_INITIAL_S": "0.05",
            "PYTHONPATH": str(ROOT),
            "XDG_CONFIG_HOME": str(data_dir / "config"),
        }
    )
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_app", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chat_app", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_server_without_json_and_search_is_refused_in_one_line(tmp_path: Path) -> None:
    require_redis()  # the system Redis 7 on 6379: no JSON, no Query Engine
    env = cli_env(f"redis://{REDIS_HOST}:{REDIS_PORT}/0", tmp_path / "data")
    done = cli(env, "threads")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "lacks what the Redis checkpointer needs" in lines[0]
    assert "JSON" in lines[0] and "Query Engine" in lines[0]


def test_an_unreachable_server_is_one_line(make_service: Make) -> None:
    with pytest.raises(StorageError, match="cannot connect to Redis"):
        make_service("redis", dsn="redis://127.0.0.1:1/0")


@pytest.fixture
def holder(url: str) -> Iterator[subprocess.Popen[str]]:
    code = (
        "import sys, time, redis\n"
        "from chat_app.storage.redis.locks import RedisWriterLock\n"
        "client = redis.Redis.from_url(sys.argv[1], decode_responses=True)\n"
        "lock = RedisWriterLock(client, 'the-thread', lease_ms=1000)\n"
        "assert lock.try_acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_a_held_lease_is_renewed_and_a_killed_holder_loses_it(
    url: str, holder: subprocess.Popen[str]
) -> None:
    import redis

    from chat_app.storage.redis.locks import RedisWriterLock

    client = redis.Redis.from_url(url, decode_responses=True)
    lock = RedisWriterLock(client, "the-thread")
    # Three lease periods later the holder still has it: it renews.
    assert not lock.acquire(3.0)
    holder.kill()
    holder.wait(timeout=5)
    t0 = time.monotonic()
    assert lock.acquire(5.0)
    waited = time.monotonic() - t0
    print(f"\nlock free {waited:.3f} s after the holder was killed (lease 1 s)")
    assert waited < 2.0
    # Another holder cannot drop it; its owner can.
    other = RedisWriterLock(client, "the-thread")
    assert not other.try_acquire()
    other.release()
    assert not other.try_acquire()
    lock.release()
    assert other.try_acquire()
    other.release()


def test_a_reply_killed_mid_way_resumes_once(url: str, tmp_path: Path) -> None:
    env = cli_env(url, tmp_path / "data")
    first = cli(env, "send", "--new", "hello")
    assert first.returncode == 0, first.stderr
    tid = first.stderr.strip().splitlines()[-1]
    slow = {**env, "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": "25"}
    killed = cli(slow, "--chaos", "kill=30", "send", "--thread", tid, "tell me about crashes")
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    threads = json.loads(cli(env, "threads", "--json").stdout)
    assert [t["id"] for t in threads] == [tid]
    resumed = cli(env, "resume", tid)
    assert resumed.returncode == 0, resumed.stderr
    shown = json.loads(cli(env, "export", tid, "--format", "json").stdout)["messages"]
    assert [m["role"] for m in shown] == ["user", "assistant", "user", "assistant"]
    assert [m["text"] for m in shown].count("tell me about crashes") == 1
    assert shown[-1]["text"].startswith("You said: “tell me about crashes”")
    assert shown[-1]["status"] == ""
    again = cli(env, "resume", tid)
    assert "nothing to resume" in (again.stdout + again.stderr).lower(), again


def test_two_processes_on_one_thread_never_fork(url: str, tmp_path: Path) -> None:
    env_a = cli_env(url, tmp_path / "host-a", delay_ms=5)
    env_b = cli_env(url, tmp_path / "host-b", delay_ms=5)
    first = cli(env_a, "send", "--new", "hello from host A")
    assert first.returncode == 0, first.stderr
    tid = first.stderr.strip().splitlines()[0]
    listed = cli(env_b, "threads", "--json")
    assert tid in [t["id"] for t in json.loads(listed.stdout)]
    sent = ["hello from host A"]
    for i in range(2):
        procs = [
            start(env, "send", "--thread", tid, f"{host} says {i}")
            for env, host in ((env_a, "A"), (env_b, "B"))
        ]
        sent += [f"A says {i}", f"B says {i}"]
        for p in procs:
            _out, err = p.communicate(timeout=90)
            assert p.returncode == 0, err
    shown = json.loads(cli(env_b, "export", tid, "--format", "json").stdout)["messages"]
    assert sorted(m["text"] for m in shown if m["role"] == "user") == sorted(sent)
    assert len(shown) == 2 * len(sent)
    history = json.loads(cli(env_a, "history", tid, "--json", "--all").stdout)
    assert history, "no history"
    info = [t for t in json.loads(cli(env_a, "threads", "--json").stdout) if t["id"] == tid]
    assert info[0]["message_count"] == len(shown)


def test_other_instances_hear_of_changes_through_the_same_redis(
    make_service: Make, url: str
) -> None:
    a = make_service("redis", dsn=url)
    b = make_service("redis", dsn=url)
    assert a.changes.transport == "redis" and a.short_term.status == "ok"
    got: list[Any] = []
    b.subscribe(got.append)
    time.sleep(0.3)  # the listener connects
    t = a.create_thread().id
    deadline = time.monotonic() + 5
    while not any(c.kind == "thread" and c.thread_id == t for c in got):
        assert time.monotonic() < deadline, got
        time.sleep(0.02)


@pytest.mark.parametrize("user", USER_IDS, ids=lambda u: u[:12])
def test_any_user_id_chats_learns_and_forgets_on_redis(
    make_service: Make, url: str, user: str
) -> None:
    svc = make_service("redis", dsn=url, user=user)
    other = make_service("redis", dsn=url, user=user + "-x")
    t = svc.create_thread().id
    assert "Bob" in chat(svc, t, "my name is Bob")
    assert [(f.key, f.value) for f in svc.profile()] == [("name", "Bob")]
    assert other.profile() == [] and other.list_threads() == []
    svc.edit_fact("name", "Robert")
    assert [(f.key, f.value) for f in svc.profile()] == [("name", "Robert")]
    svc.forget("name")
    assert svc.profile() == []


def test_lookalike_user_ids_never_see_each_others_facts(make_service: Make, url: str) -> None:
    services = {user: make_service("redis", dsn=url, user=user) for user in LOOKALIKES}
    for user, svc in services.items():
        svc.edit_fact("name", f"name of {user}", create=True)
    for user, svc in services.items():
        assert [(f.key, f.value) for f in svc.profile()] == [("name", f"name of {user}")]


def test_history_lost_beside_the_checkpoints_is_rebuilt_from_them(
    make_service: Make, url: str, redis8: Any
) -> None:
    svc = make_service("redis", dsn=url)
    t = svc.create_thread().id
    for i in range(3):
        chat(svc, t, f"turn {i}")
    before = [(c.id, c.parent_id, c.step, c.source, c.kind) for c in svc.history(t).checkpoints]
    # As if the process died between a checkpoint and its record.
    redis8.delete(f"chat-app:cps:{t}")
    after = [(c.id, c.parent_id, c.step, c.source, c.kind) for c in svc.history(t).checkpoints]
    assert after == before


def test_an_import_that_fails_half_way_leaves_nothing(make_service: Make, url: str) -> None:
    from chat_app.service import transfer

    svc = make_service("redis", dsn=url)
    t = svc.create_thread().id
    chat(svc, t, "first")
    chat(svc, t, "second")
    exported = svc.export_thread(t, "json")
    svc.delete_thread(t)
    assert svc.list_threads() == []
    seen: list[str] = []

    def stop(where: str) -> None:
        seen.append(where)
        if len(seen) == 3:
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        transfer.import_thread(svc, exported, step=stop)
    assert svc.list_threads() == []
    assert svc.index.unindexed() == []
    assert svc.index.newest_checkpoint(t) is None
    again = svc.import_thread(exported)
    assert [m.text for m in svc.load_messages(again.id)][::2] == ["first", "second"]
