"""`chat-app doctor`: says what is wrong and what to do; exit 1 when unhealthy."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chat_app.config import Settings, load_settings
from chat_app.doctor import run_doctor
from chat_app.service import ChatService
from tests.conftest import chat

KEY = "sk-doctor-SENTINEL-0123456789"


def doctor(
    data: Path, *, config: Path | None = None, env: dict[str, str] | None = None, **model: Any
) -> tuple[int, str]:
    def load(warnings: list[str]) -> Settings:
        return load_settings(
            str(config) if config else None,
            env=env or {},
            overrides={"storage": {"data_dir": str(data)}, "model": model},
            use_user_config=False,
            warnings=warnings,
        )

    out = io.StringIO()
    status = run_doctor(load, out=out)
    return status, out.getvalue()


def lines_of(text: str, kind: str) -> list[str]:
    return [x for x in text.splitlines() if x.startswith(kind)]


def test_healthy_installation(tmp_path: Path, service_factory: Callable[..., ChatService]) -> None:
    data = tmp_path / "data"
    svc = service_factory(data)
    chat(svc, svc.create_thread().id, "hello")
    status, out = doctor(data)
    assert status == 0, out
    assert out.strip().endswith("healthy")
    assert not lines_of(out, "FAIL")
    for what in ("config", "permissions", "database", "storage", "locks", "model"):
        assert any(x.split()[1] == f"{what}:" for x in lines_of(out, "OK")), what
    # A fresh data dir is not a problem, and doctor creates nothing.
    status, out = doctor(tmp_path / "fresh")
    assert status == 0 and not (tmp_path / "fresh").exists()


def test_problems_are_named_with_the_fix(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data)
    chat(svc, svc.create_thread().id, "hello")
    svc.close()
    data.chmod(0o755)
    (data / "chat.db").chmod(0o644)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nnmae = 'offline'\n")
    status, out = doctor(data, config=cfg)
    assert status == 1
    (perm,) = lines_of(out, "FAIL  permissions")
    assert f"chmod 700 {data}" in perm and f"chmod 600 {data / 'chat.db'}" in perm
    (warn,) = lines_of(out, "WARN  config")
    assert "model.nmae" in warn
    cfg.write_text("[model]\nmax_attempts = 'many'\n")
    status, out = doctor(data, config=cfg)
    assert status == 1 and "model.max_attempts" in lines_of(out, "FAIL  config")[0]


class _Models(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == f"Bearer {KEY}"
        code = 200 if ok and self.path == "/v1/models" else 401
        body = b'{"object": "list", "data": []}' if code == 200 else b'{"error": {}}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def models_server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_model_endpoint_connectivity(tmp_path: Path, models_server: str) -> None:
    data = tmp_path / "data"
    status, out = doctor(
        data, env={"OPENAI_API_KEY": KEY}, name="openai:gpt-x", base_url=models_server
    )
    assert status == 0, out
    assert "reachable (HTTP 200, key set)" in lines_of(out, "OK    model")[0]
    status, out = doctor(
        data, env={"OPENAI_API_KEY": "wrong-" + KEY}, name="openai:gpt-x", base_url=models_server
    )
    assert status == 1 and "refused the API key" in lines_of(out, "FAIL  model")[0]
    assert KEY not in out
    # Nothing listens on this port.
    status, out = doctor(
        data,
        env={"OPENAI_API_KEY": KEY},
        name="openai:gpt-x",
        base_url="http://127.0.0.1:9/v1",
        connect_timeout_s=1.0,
    )
    assert status == 1 and "cannot reach" in lines_of(out, "FAIL  model")[0]
    assert KEY not in out


def test_doctor_command_runs_without_opening_the_service(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "chat.db").write_bytes(b"this is not a database" * 300)
    (data / "chat.db").chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(CHAT_APP_DATA_DIR=str(data), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run(
        [sys.executable, "-m", "chat_app", "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    (line,) = lines_of(proc.stdout, "FAIL  database")
    assert str(data / "chat.db") in line and "Keep the file" in line
