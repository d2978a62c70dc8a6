"""`chat-app import` on PostgreSQL is all or nothing too: a child stopped
after any write leaves no trace of the thread, and the same file imports
again whole."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from chat_app.service import ChatService
from chat_app.service.transfer import import_thread
from tests.conftest import make_settings
from tests.reliability.import_crash import THREAD_ID, assert_whole, stop_import, write_export
from tests.services.conftest import new_schema_dsn

pytestmark = pytest.mark.services

TURNS = 300
TABLES = (
    "checkpoints",
    "checkpoint_writes",
    "checkpoint_blobs",
    "app_threads",
    "app_messages",
    "app_notes",
)


def _service(data_dir: Path, dsn: str) -> ChatService:
    # The child's settings: the default user, the database at dsn.
    return ChatService(make_settings(data_dir, storage={"backend": "postgres", "dsn": dsn}))


def test_import_on_postgres_stopped_after_any_write_leaves_nothing(
    pg_database: str, tmp_path: Path
) -> None:
    export = write_export(tmp_path / "thread.json", TURNS)
    writes: list[str] = []
    for k in (1, 150, 0):
        # 0 stands for the last write, the one just before the commit.
        k = k or len(writes)
        dsn = new_schema_dsn(pg_database)
        data_dir = tmp_path / f"stop-{k}"
        stop_import(data_dir, export, k, dsn=dsn)
        with psycopg.connect(dsn) as conn:
            for table in TABLES:
                row = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE thread_id = %s", (THREAD_ID,)
                ).fetchone()
                assert row == (0,), (k, table)
        svc = _service(data_dir, dsn)
        try:
            assert svc.list_threads() == []
            # The first import again also counts the writes of a whole import.
            count = writes if not writes else []
            import_thread(svc, export.read_text(), step=count.append)
            assert_whole(svc, TURNS)
        finally:
            svc.close()
    assert len(writes) > TURNS
