"""`chat-app migrate --to redis://...` stopped at any point completes when run
again, and a server it cannot use is one line.

The process is stopped (``os._exit``, no clean-up) at each boundary between
two writes of the migration, counted by the ``step`` hook; then the
migration runs again normally and must finish, verify, and leave every thread
on Redis exactly as on SQLite; a third run has nothing to do.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chat_app.cli import main
from chat_app.service import ChatService
from chat_app.storage.errors import StorageError
from chat_app.storage.migrate_redis import migrate_to_redis
from tests.conftest import make_settings
from tests.redis8 import require_redis_checkpoint
from tests.services.conftest import PYTHON, REDIS_HOST, REDIS_PORT, ROOT, require_redis
from tests.services.test_migrate_crash import STOPPED, _snapshot, _source

pytestmark = pytest.mark.services

STOP_AT_STEP = """
import os, sys
from pathlib import Path
from chat_app.storage.migrate_redis import migrate_to_redis

data, url, stop_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen = 0

def step(where):
    global seen
    if seen == stop_at:
        os._exit(137)
    seen += 1

migrate_to_redis(data, url, step=step)
"""


def _assert_same_on_redis(
    url: str, tmp: Path, owners: dict[str, str], expected: dict[str, tuple[Any, ...]]
) -> None:
    for user in sorted(set(owners.values())):
        settings = make_settings(
            tmp / "r", user={"id": user}, storage={"backend": "redis", "redis_url": url}
        )
        svc = ChatService(settings)
        try:
            mine = {t for t, u in owners.items() if u == user}
            assert {t.id for t in svc.list_threads()} == mine
            for tid in mine:
                assert _snapshot(svc, tid) == expected[tid], tid
        finally:
            svc.close()


def test_migrate_to_redis_stopped_at_every_step_of_a_thread_completes_when_run_again(
    redis8: Any, redis8_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_redis_checkpoint()
    data = tmp_path / "data"
    owners, expected, branched = _source(data)
    steps: list[str] = []
    migrate_to_redis(data, redis8_url, step=steps.append)
    of_thread = [k for k, where in enumerate(steps) if where.startswith(branched)]
    assert len(of_thread) >= 8
    stops = sorted({0, of_thread[0] - 1, *of_thread, len(steps) - 1} - {-1})

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANGGRAPH_STRICT_MSGPACK": "true"}
    for k in stops:
        redis8.flushall()
        run = subprocess.run(
            [PYTHON, "-c", STOP_AT_STEP, str(data), redis8_url, str(k)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == STOPPED, (k, steps[k], run.stderr[-2000:])
        assert main(["--data-dir", str(data), "migrate", "--to", redis8_url]) == 0, (k, steps[k])
        out = capsys.readouterr()
        assert "verified" in out.out, (k, steps[k], out.err)
        _assert_same_on_redis(redis8_url, tmp_path, owners, expected)
        again = migrate_to_redis(data, redis8_url)
        assert (again.threads_copied, again.threads_skipped) == (0, 3), (k, steps[k])
        assert again.profile_items == 0


def test_migrate_to_a_redis_without_json_and_search_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_redis()
    data = tmp_path / "data"
    _source(data)
    with pytest.raises(StorageError, match="lacks what the Redis checkpointer needs"):
        migrate_to_redis(data, f"redis://{REDIS_HOST}:{REDIS_PORT}/0")
    assert main(["--data-dir", str(data), "migrate", "--to", "redis://127.0.0.1:1/0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("chat-app: migrate: redis 127.0.0.1:1/0: cannot connect to Redis")
