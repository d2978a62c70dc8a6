"""Old compressed blobs: still read, and rewritten in LangGraph's format on request."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from chat_app import cli
from chat_app.service import ChatService
from chat_app.storage import compression
from chat_app.storage.sqlite.checkpoint_schema import CHECKPOINTS_SCHEMA
from graphs import langgraph_compat
from tests.conftest import chat


def compress_everything(db: Path) -> None:
    """Store every blob as the previous version did (zlib with the preset
    dictionary), in its WITHOUT ROWID checkpoints table."""
    conn = sqlite3.connect(db)
    conn.executescript(
        "ALTER TABLE checkpoints RENAME TO cp;"
        + CHECKPOINTS_SCHEMA.replace(");", ") WITHOUT ROWID;")
        + "INSERT INTO checkpoints SELECT * FROM cp; DROP TABLE cp;"
    )
    keys = "thread_id, checkpoint_ns, checkpoint_id"
    with conn:
        for table, col, key in (
            ("checkpoints", "checkpoint", keys),
            ("writes", "value", keys + ", task_id, idx"),
        ):
            rows = conn.execute(f"SELECT type, {col}, {key} FROM {table}").fetchall()
            where = " AND ".join(f"{k} = ?" for k in key.split(", "))
            for typ, blob, *k in rows:
                new_typ, packed = compression.compress(typ, blob) if blob else (typ, blob)
                conn.execute(
                    f"UPDATE {table} SET type = ?, {col} = ? WHERE {where}",
                    (new_typ, packed, *k),
                )
    conn.close()


def types(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {
            r[0] for r in conn.execute("SELECT type FROM checkpoints UNION SELECT type FROM writes")
        }
    finally:
        conn.close()


def stock_read(db: Path, thread: str) -> Any:
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        saver = SqliteSaver(conn, serde=JsonPlusSerializer())
        return [t.checkpoint["id"] for t in saver.list({"configurable": {"thread_id": thread}})]
    finally:
        conn.close()


def test_upgrade_storage_rewrites_old_blobs_for_stock_readers(
    tmp_path: Path,
    service_factory: Callable[..., ChatService],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data)
    threads = [svc.create_thread().id for _ in range(2)]
    for t in threads:
        chat(svc, t, f"hello from {t[:4]}")
        chat(svc, t, "and again")
    before = {t: svc.load_messages(t) for t in threads}
    svc.close()
    db = data / "chat.db"
    compress_everything(db)
    assert any(t.startswith("zd1:") for t in types(db))
    with pytest.raises(Exception, match="Unknown serialization type"):
        stock_read(db, threads[0])

    monkeypatch.setenv("CHAT_APP_DATA_DIR", str(data))
    monkeypatch.setenv("CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS", "0")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cli.main(["upgrade-storage"]) == 0
    out = capsys.readouterr().out
    assert "upgraded 2 threads" in out and "rebuilt the checkpoints table" in out
    conn = sqlite3.connect(db)
    layout = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'checkpoints'").fetchone()
    assert "WITHOUT ROWID" not in layout[0].upper()
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    assert not any(compression.is_compressed(t) for t in types(db))
    for t in threads:
        assert len(stock_read(db, t)) == 8
    again = service_factory(data)
    assert {t: again.load_messages(t) for t in threads} == before
    assert [m.text for m in again.load_messages(threads[0], stock_read(db, threads[0])[1])]
    again.close()
    # Nothing left to do the second time.
    assert cli.main(["upgrade-storage"]) == 0
    assert "upgraded 0 threads" in capsys.readouterr().out


def test_an_unsupported_langgraph_is_named_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_APP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setitem(langgraph_compat.SUPPORTED, "langgraph", ("0.1", "0.2"))
    assert cli.main(["threads"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "langgraph" in err[0] and "is not supported (supported: >=0.1,<0.2)" in err[0]
    assert langgraph_compat.unsupported() is not None
    monkeypatch.undo()
    assert langgraph_compat.unsupported() is None
