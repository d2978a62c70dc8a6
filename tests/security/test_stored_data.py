"""Crafted checkpoint rows: loading them runs nothing and reports damage in one line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import ormsgpack
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.serde import jsonplus as J

from chat_app.service import ChatService, DamagedCheckpoint
from chat_app.storage.serde import strict_serde
from tests.security.conftest import REPO, chat, cli_env, one_error_line, run_cli


def _enc(x: object) -> bytes:
    return ormsgpack.packb(x, option=ormsgpack.OPT_NON_STR_KEYS)


def msgpack_payloads(marker: Path) -> dict[str, bytes]:
    touch = f"touch {marker}"
    ext = ormsgpack.Ext
    cases = {
        "os.system pos args": ext(J.EXT_CONSTRUCTOR_POS_ARGS, _enc(("os", "system", [touch]))),
        "subprocess.Popen kw": ext(
            J.EXT_CONSTRUCTOR_KW_ARGS,
            _enc(("subprocess", "Popen", {"args": ["touch", str(marker)]})),
        ),
        "Popen method call": ext(
            J.EXT_METHOD_SINGLE_ARG, _enc(("subprocess", "Popen", ["touch", str(marker)], "wait"))
        ),
        "test class kw": ext(J.EXT_CONSTRUCTOR_KW_ARGS, _enc(("tests.security.evil", "Boom", {}))),
        "test class single": ext(
            J.EXT_CONSTRUCTOR_SINGLE_ARG, _enc(("tests.security.evil", "Boom", "x"))
        ),
        "test class pydantic": ext(
            J.EXT_PYDANTIC_V2, _enc(("tests.security.evil", "Boom", {"a": 1}, None))
        ),
        "builtins eval": ext(
            J.EXT_CONSTRUCTOR_SINGLE_ARG,
            _enc(("builtins", "eval", f"__import__('os').system('{touch}')")),
        ),
    }
    return {name: ormsgpack.packb([value]) for name, value in cases.items()}


def json_payloads(marker: Path) -> dict[str, bytes]:
    cases = {
        "lc2 os.system": {
            "lc": 2,
            "type": "constructor",
            "id": ["os", "system"],
            "args": [f"touch {marker}"],
        },
        "lc1 test class": {
            "lc": 1,
            "type": "constructor",
            "id": ["tests", "security", "evil", "Boom"],
            "kwargs": {},
        },
        "lc1 subprocess": {
            "lc": 1,
            "type": "constructor",
            "id": ["subprocess", "Popen"],
            "kwargs": {"args": ["touch", str(marker)]},
        },
    }
    return {name: json.dumps([value]).encode() for name, value in cases.items()}


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "MARKER"
    monkeypatch.setenv("SECURITY_TEST_MARKER", str(path))
    return path


def _thread(service: ChatService) -> str:
    tid = service.create_thread("victim").id
    chat(service, tid, "hello there")
    return tid


def _plant_write(db: Path, tid: str, typ: str, blob: bytes) -> None:
    """Replace the person's message (a write of the first checkpoint) with ``blob``."""
    with sqlite3.connect(db) as conn:
        n = conn.execute(
            "UPDATE writes SET type = ?, value = ? WHERE thread_id = ? AND channel = 'messages'"
            " AND checkpoint_id = (SELECT MIN(checkpoint_id) FROM checkpoints WHERE thread_id = ?)",
            (typ, blob, tid, tid),
        ).rowcount
    assert n == 1


def _all_payloads(marker: Path) -> list[tuple[str, str, bytes]]:
    out = [("msgpack", n, b) for n, b in msgpack_payloads(marker).items()]
    out += [("json", n, b) for n, b in json_payloads(marker).items()]
    out += [
        ("msgpack", "garbage", b"\xc1\xc1\xc1"),
        ("pickle", "pickle", b"\x80\x04\x95"),
        ("z:msgpack", "bad zlib", b"not zlib"),
        ("msgpack", "a number", ormsgpack.packb(5)),
    ]
    return out


def test_planted_writes_run_nothing_and_report_damage(service: ChatService, marker: Path) -> None:
    assert service.db_path is not None
    for typ, name, blob in _all_payloads(marker):
        tid = _thread(service)
        _plant_write(service.db_path, tid, typ, blob)
        with pytest.raises(DamagedCheckpoint) as err:
            service.load_messages(tid)
        text = str(err.value)
        assert "damaged" in text and "\n" not in text, (name, text)
        assert "touch" not in text and "Boom" not in text  # the payload is not echoed
        assert not marker.exists(), name
        # Other threads and the thread list are unaffected.
        assert tid in {t.id for t in service.list_threads()}


def test_planted_checkpoint_blob_is_reported(service: ChatService, marker: Path) -> None:
    assert service.db_path is not None
    blob = msgpack_payloads(marker)["test class kw"]
    tid = _thread(service)
    good = _thread(service)
    with sqlite3.connect(service.db_path) as conn:
        conn.execute(
            "UPDATE checkpoints SET type = 'msgpack', checkpoint = ? WHERE thread_id = ?",
            (blob, tid),
        )
    with pytest.raises(DamagedCheckpoint):
        service.load_messages(tid)
    assert not marker.exists()
    assert service.load_messages(good)[0].text == "hello there"


def test_cli_reports_damage_in_one_line(
    service_factory: Callable[..., ChatService], tmp_path: Path, marker: Path
) -> None:
    data_dir = tmp_path / "data"
    svc = service_factory(data_dir)
    tid = _thread(svc)
    assert svc.db_path is not None
    _plant_write(svc.db_path, tid, "msgpack", msgpack_payloads(marker)["os.system pos args"])
    svc.close()
    proc = run_cli(data_dir, "show", tid, SECURITY_TEST_MARKER=str(marker))
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line.startswith("chat-app: thread ") and "damaged" in line
    assert not marker.exists()


def test_strict_msgpack_is_on_in_the_app_process(tmp_path: Path) -> None:
    from langgraph.checkpoint.serde import _msgpack

    assert _msgpack.STRICT_MSGPACK_ENABLED
    env = cli_env(tmp_path / "data")
    env.pop("LANGGRAPH_STRICT_MSGPACK", None)
    code = (
        "import sys\n"
        "from chat_app.cli import main\n"
        "assert 'langgraph' not in sys.modules\n"
        "main(['threads'])\n"
        "from langgraph.checkpoint.serde import _msgpack\n"
        "print('STRICT', _msgpack.STRICT_MSGPACK_ENABLED)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "STRICT True" in proc.stdout


def test_serializer_blocks_unknown_types_but_keeps_messages(marker: Path) -> None:
    serde = strict_serde()
    msgs = [HumanMessage(content="hi \x1b[2J", id="1"), AIMessage(content="yo", id="2")]
    assert serde.loads_typed(serde.dumps_typed(msgs)) == msgs
    for name, blob in msgpack_payloads(marker).items():
        serde.loads_typed(("msgpack", blob))
        assert not marker.exists(), name
    with pytest.raises(NotImplementedError):
        serde.loads_typed(("pickle", b"\x80\x04K\x01."))
