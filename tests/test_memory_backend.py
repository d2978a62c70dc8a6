"""The memory backend (``--memory``): the whole app works for the life of the
process, says that nothing is saved, and creates no file anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.service import ChatService
from tests.conftest import chat

CLI = [sys.executable, "-m", "chat_app"]


def files_under(root: Path) -> list[str]:
    """Everything under ``root`` (directories too), relative to it."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def empty_home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty home, with every XDG directory pointing into it."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(
        {
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": "0",
        }
    )
    return home, env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + list(args), capture_output=True, text=True, env=env, timeout=60)


def test_send_in_one_process_prints_the_reply_says_nothing_is_kept_and_creates_no_file(
    tmp_path: Path,
) -> None:
    home, env = empty_home(tmp_path)
    sent = run(env, "--memory", "send", "My name is Alice")
    assert sent.returncode == 0, sent.stderr
    assert "I'll remember your name" in sent.stdout
    assert "nothing was kept" in sent.stderr
    # The next process starts from nothing.
    listed = run(env, "--memory", "threads", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert files_under(home) == []


def test_the_setting_and_the_environment_choose_it_too(tmp_path: Path) -> None:
    home, env = empty_home(tmp_path)
    config = tmp_path / "memory.toml"
    config.write_text('[storage]\nbackend = "memory"\n', encoding="utf-8")
    by_file = run(env, "--config", str(config), "send", "hello")
    assert by_file.returncode == 0 and "nothing was kept" in by_file.stderr
    by_env = run({**env, "CHAT_APP_STORAGE_BACKEND": "memory"}, "send", "hello")
    assert by_env.returncode == 0 and "nothing was kept" in by_env.stderr
    assert files_under(home) == []


def test_config_says_nothing_is_saved(tmp_path: Path) -> None:
    home, env = empty_home(tmp_path)
    shown = run(env, "--memory", "config")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["storage"]["backend"] == "memory"
    assert "nothing is saved" in shown.stderr
    # Without --memory, nothing of the kind is said.
    assert "nothing is saved" not in run(env, "config").stderr
    assert files_under(home) == []


@pytest.mark.parametrize(
    "command",
    [["prune"], ["prune", "--dry-run"], ["reindex"], ["upgrade-storage"], ["migrate", "--to", "x"]],
)
def test_database_commands_say_in_one_line_that_memory_keeps_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    home, env = empty_home(tmp_path)
    done = run(env, "--memory", *command)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "memory backend keeps nothing" in lines[0], done.stderr
    assert files_under(home) == []


def test_doctor_checks_what_there_is_and_touches_no_file(tmp_path: Path) -> None:
    home, env = empty_home(tmp_path)
    done = run(env, "--memory", "doctor")
    assert done.returncode == 0, done.stdout
    assert "storage: memory: nothing is saved" in done.stdout
    assert "healthy" in done.stdout
    assert files_under(home) == []


def test_a_whole_session_in_memory_leaves_the_data_directory_uncreated(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data, storage={"backend": "memory"})
    t = svc.create_thread().id
    chat(svc, t, "My name is Alice and I live in Paris")
    chat(svc, t, "I prefer tea")
    before_tea = next(c.id for c in svc.branch_timeline(t) if c.summary == "you: I prefer tea")
    svc.rewind(t, before_tea)
    chat(svc, t, "I prefer coffee")
    assert [m.text for m in svc.load_messages(t) if m.role == "user"] == [
        "My name is Alice and I live in Paris",
        "I prefer coffee",
    ]
    assert {f.kind for f in svc.profile()} >= {"name", "location"}
    # The unsent-message box and the session are kept in memory as well.
    held = svc.hold(t, "kept aside")
    svc.give_back(held)
    svc.session.set_choice("theme", "nord")
    copy = svc.import_thread(svc.export_thread(t, "json"), new_id=True)
    assert [m.text for m in svc.load_messages(copy.id)] == [m.text for m in svc.load_messages(t)]
    svc.delete_thread(copy.id)
    assert [x.id for x in svc.list_threads()] == [t]
    assert svc.backend.location == "memory (nothing is saved)" and svc.db_path is None
    svc.close()
    assert not data.exists()
    # Another service of this process on the same settings finds the thread again.
    again = service_factory(data, storage={"backend": "memory"})
    assert [x.id for x in again.list_threads()] == [t]
    assert not data.exists()


def test_a_failed_transaction_keeps_none_of_its_writes(
    service_factory: Callable[..., ChatService],
) -> None:
    svc = service_factory(storage={"backend": "memory"})
    t = svc.create_thread().id
    chat(svc, t, "hello")
    before = svc.index.checkpoints(t)
    with pytest.raises(RuntimeError), svc.backend.one_transaction() as (saver, index):
        index.create(svc.user_id, "half an import", thread_id="0000aaaa-half")
        saver.delete_thread(t)
        raise RuntimeError("the import failed halfway")
    assert svc.index.get(svc.user_id, "0000aaaa-half") is None
    assert svc.index.checkpoints(t) == before
    assert svc.load_messages(t)[0].text == "hello"
