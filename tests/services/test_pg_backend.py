"""PostgreSQL specifics: concurrent set-up, advisory locks, metadata-only history."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from chat_app.service import ChatService
from chat_app.storage.postgres.backend import PgBackend, open_pg
from chat_app.storage.postgres.locks import PgWriterLock
from tests.conftest import chat
from tests.services.conftest import ROOT

pytestmark = pytest.mark.services


def test_instances_starting_together_set_up_once(pg_dsn: str) -> None:
    backends: list[PgBackend] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            backends.append(open_pg(pg_dsn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with backends[0].pool.connection() as c:
            row = c.execute("SELECT count(*) AS n FROM checkpoint_migrations").fetchone()
            assert row["n"] == len(backends[0].saver.MIGRATIONS)
    finally:
        for b in backends:
            b.close()


def test_a_killed_holder_does_not_keep_the_thread_lock(pg_dsn: str) -> None:
    code = (
        "import sys, time\n"
        "from chat_app.storage.postgres.locks import PgWriterLock\n"
        "lock = PgWriterLock(sys.argv[1], 'the-thread')\n"
        "assert lock.try_acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, pg_dsn], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = PgWriterLock(pg_dsn, "the-thread")
        assert not lock.try_acquire()
        holder.kill()
        holder.wait(timeout=5)
        t0 = time.monotonic()
        assert lock.acquire(5.0)
        print(f"\nlock free {time.monotonic() - t0:.3f} s after the holder was killed")
        lock.release()
    finally:
        holder.kill()


def test_history_lists_checkpoints_without_deserializing(
    make_service: Callable[..., ChatService], pg_dsn: str
) -> None:
    svc = make_service("postgres", dsn=pg_dsn)
    t = svc.create_thread().id
    for i in range(3):
        chat(svc, t, f"turn {i}")
    serde: Any = svc.backend.saver.serde

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("history deserialized a state")

    real = serde.loads_typed
    serde.loads_typed = refuse
    try:
        hist = svc.history(t)
    finally:
        serde.loads_typed = real
    assert len(hist.checkpoints) > 6 and hist.checkpoints[0].source == "input"
    assert [c.step for c in hist.checkpoints] == sorted(c.step for c in hist.checkpoints)


def test_postgres_without_the_extra_is_one_clear_line(tmp_path: Any, pg_dsn: str) -> None:
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from chat_app.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {
        "CHAT_APP_STORAGE_BACKEND": "postgres",
        "CHAT_APP_STORAGE_DSN": pg_dsn,
        "CHAT_APP_DATA_DIR": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "PATH": "/usr/bin:/bin",
    }
    r = subprocess.run(
        [sys.executable, "-c", code, "threads"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "chat-app: storage.backend = 'postgres' needs the PostgreSQL extra: "
        "pip install 'chat-app[postgres]' (psycopg, langgraph-checkpoint-postgres)"
    ]
