"""`chat-app migrate` stopped at any point completes when run again.

The process is stopped (``os._exit``, no clean-up) at each boundary between
two writes of the migration, counted by migrate's ``step`` hook; then the
migration runs again normally and must finish, verify, and leave every thread
on PostgreSQL exactly as on SQLite; a third run has nothing to do.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chat_app.cli import main
from chat_app.service import ChatService
from chat_app.storage.migrate import migrate
from tests.conftest import chat, make_settings
from tests.services.conftest import PYTHON, ROOT, checkpoint_tree, new_schema_dsn

pytestmark = pytest.mark.services

STOPPED = 137
STOP_AT_STEP = """
import os, sys
from pathlib import Path
from chat_app.storage.migrate import migrate

data, dsn, stop_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen = 0

def step(where):
    global seen
    if seen == stop_at:
        os._exit(137)
    seen += 1

migrate(data, dsn, step=step)
"""


def _service(data: Path, user: str, **storage: Any) -> ChatService:
    return ChatService(make_settings(data, user={"id": user}, storage=storage))


def _snapshot(svc: ChatService, tid: str) -> tuple[Any, ...]:
    return (svc.load_messages(tid), checkpoint_tree(svc, tid), svc.get_thread(tid))


def _source(data: Path) -> tuple[dict[str, str], dict[str, tuple[Any, ...]], str]:
    """Three threads of two users (one with two branches); their expected
    state by thread id, and the owner of each; the branched thread's id."""
    alice, bob = _service(data, "alice"), _service(data, "bob")
    try:
        branched = alice.create_thread().id
        chat(alice, branched, "Hi, my name is Alice and I like tea")
        chat(alice, branched, "second turn")
        first = next(c.id for c in alice.branch_timeline(branched) if c.kind == "user")
        alice.rewind(branched, first)
        chat(alice, branched, "another way")
        plain = alice.create_thread("plain").id
        chat(alice, plain, "just one turn")
        bobs = bob.create_thread().id
        chat(bob, bobs, "My name is Bob")
        owners = {branched: "alice", plain: "alice", bobs: "bob"}
        svcs = {"alice": alice, "bob": bob}
        expected = {t: _snapshot(svcs[u], t) for t, u in owners.items()}
    finally:
        alice.close()
        bob.close()
    return owners, expected, branched


def _assert_same_on_postgres(
    dsn: str, tmp: Path, owners: dict[str, str], expected: dict[str, tuple[Any, ...]]
) -> None:
    for user in sorted(set(owners.values())):
        svc = _service(tmp / "pg", user, backend="postgres", dsn=dsn)
        try:
            mine = {t for t, u in owners.items() if u == user}
            assert {t.id for t in svc.list_threads()} == mine
            for tid in mine:
                assert _snapshot(svc, tid) == expected[tid], tid
        finally:
            svc.close()


def test_migrate_stopped_at_every_step_of_a_thread_completes_when_run_again(
    pg_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    owners, expected, branched = _source(data)

    # Where the boundaries are: a full run, counting them.
    steps: list[str] = []
    migrate(data, new_schema_dsn(pg_database), step=steps.append)
    of_thread = [k for k, where in enumerate(steps) if where.startswith(branched)]
    assert len(of_thread) >= 8  # every checkpoint of both branches, then the rest
    # Every boundary of the branched thread's copy, the one before it, and
    # the first and the last of the whole run.
    stops = sorted({0, of_thread[0] - 1, *of_thread, len(steps) - 1} - {-1})

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANGGRAPH_STRICT_MSGPACK": "true"}
    for k in stops:
        dsn = new_schema_dsn(pg_database)
        run = subprocess.run(
            [PYTHON, "-c", STOP_AT_STEP, str(data), dsn, str(k)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == STOPPED, (k, steps[k], run.stderr[-2000:])

        assert main(["--data-dir", str(data), "migrate", "--to", dsn]) == 0, (k, steps[k])
        out = capsys.readouterr()
        assert "verified" in out.out, (k, steps[k], out.err)
        _assert_same_on_postgres(dsn, tmp_path, owners, expected)

        again = migrate(data, dsn)
        assert (again.threads_copied, again.threads_skipped) == (0, 3), (k, steps[k])
        assert again.profile_items == 0


def test_migrate_completes_a_thread_whose_copy_lost_its_writes_and_rows(
    pg_dsn: str, tmp_path: Path
) -> None:
    """What a copy cut short between the checkpoints and the rest looked like
    (before each thread was one transaction): migrating again completes it."""
    import psycopg

    data = tmp_path / "data"
    owners, expected, branched = _source(data)
    migrate(data, pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for table in ("checkpoint_writes", "app_threads", "app_messages", "app_notes"):
            conn.execute(f"DELETE FROM {table} WHERE thread_id = %s", (branched,))

    report = migrate(data, pg_dsn)
    assert (report.threads_copied, report.threads_skipped) == (1, 2)
    _assert_same_on_postgres(pg_dsn, tmp_path, owners, expected)
