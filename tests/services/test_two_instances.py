"""Two real `chat-app` processes on one PostgreSQL and one Redis.

The Redis here is a private redis-server on a free port (killed and
restarted by the test), never the shared one on 6379.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.service import ChatService
from tests.services.conftest import PYTHON, ROOT, PrivateRedis, app_env

pytestmark = pytest.mark.services


def _run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "chat_app", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "chat_app", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_share_threads_never_fork_and_survive_redis_loss(
    pg_dsn: str,
    private_redis: PrivateRedis,
    tmp_path: Path,
    make_service: Callable[..., ChatService],
) -> None:
    env_a = app_env(pg_dsn, private_redis.url, tmp_path / "host-a")
    env_b = app_env(pg_dsn, private_redis.url, tmp_path / "host-b")
    # Slow enough that simultaneous replies really overlap.
    env_a["CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS"] = "5"
    env_b["CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS"] = "5"

    first = _run(env_a, "send", "--new", "hello from host A")
    assert first.returncode == 0, first.stderr
    tid = first.stderr.strip().splitlines()[0]
    listed = _run(env_b, "threads", "--json")
    assert listed.returncode == 0, listed.stderr
    assert tid in [t["id"] for t in json.loads(listed.stdout)]

    sent = ["hello from host A"]
    for i in range(2):
        procs = [
            _start(env, "send", "--thread", tid, f"{host} says {i}")
            for env, host in ((env_a, "A"), (env_b, "B"))
        ]
        sent += [f"A says {i}", f"B says {i}"]
        for p in procs:
            _out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err

    # Redis dies in the middle of a reply; the turn still lands.
    mid = _start(env_a, "send", "--thread", tid, "while redis dies")
    time.sleep(1.0)
    private_redis.kill()
    _out, err = mid.communicate(timeout=60)
    assert mid.returncode == 0, err
    sent.append("while redis dies")
    t0 = time.monotonic()
    down = _run(env_b, "send", "--thread", tid, "with redis down")
    down_s = time.monotonic() - t0
    assert down.returncode == 0, down.stderr
    sent.append("with redis down")
    private_redis.start()  # same port, empty
    back = _run(env_a, "send", "--thread", tid, "redis is back")
    assert back.returncode == 0, back.stderr
    sent.append("redis is back")
    print(f"one CLI turn with Redis down took {down_s:.2f} s (process start included)")

    svc = make_service("postgres", dsn=pg_dsn, redis_url=private_redis.url)
    msgs = svc.load_messages(tid)
    users = [m.text for m in msgs if m.role == "user"]
    assert sorted(users) == sorted(sent)
    assert len(msgs) == 2 * len(sent)
    hist = svc.history(tid)
    leaves = [c.id for c in hist.checkpoints if c.id not in hist.children()]
    assert leaves == [hist.head_id], "the thread forked"
    assert svc.get_thread(tid).message_count == len(msgs)
    assert svc.short_term.status == "ok"
