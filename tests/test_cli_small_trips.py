"""Small things a new user of the command line runs into."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.test_cli import run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def new_thread(data_dir: Path, text: str) -> str:
    return run(data_dir, "send", "--new", text).stderr.strip().splitlines()[-1]


def test_version() -> None:
    out = run(Path("/nonexistent"), "--version")
    assert out.stdout.startswith("chat-app ")
    assert out.stdout.split()[1][0].isdigit()


def test_commands_take_a_short_thread_id(data_dir: Path) -> None:
    thread = new_thread(data_dir, "My name is Alice")
    short = thread[:8]
    run(data_dir, "send", "--thread", short, "I live in Paris")
    assert "I live in Paris" in run(data_dir, "show", short).stdout
    assert json.loads(run(data_dir, "history", short, "--json").stdout)
    run(data_dir, "rename", short, "Renamed")
    assert "Renamed" in run(data_dir, "threads").stdout
    missing = run(data_dir, "show", "ffff0000", check=False)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "no thread" in missing.stderr


def test_an_ambiguous_short_id_lists_the_candidates(data_dir: Path) -> None:
    new_thread(data_dir, "hello")  # makes the database
    db = sqlite3.connect(data_dir / "chat.db")
    with db:
        for tid in ("beef0001-a", "beef0002-b"):
            db.execute(
                "INSERT INTO app_threads (thread_id, user_id, created_at, updated_at)"
                " SELECT ?, user_id, 0, 0 FROM app_threads LIMIT 1",
                (tid,),
            )
    db.close()
    out = run(data_dir, "show", "beef", check=False)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert "beef0001-a" in out.stderr and "beef0002-b" in out.stderr


def test_send_new_with_an_empty_message_leaves_no_thread(data_dir: Path) -> None:
    new_thread(data_dir, "hello")
    out = run(data_dir, "send", "--new", "  ", check=False)
    assert out.returncode == 1 and "empty" in out.stderr
    assert len(json.loads(run(data_dir, "threads", "--json").stdout)) == 1


def test_discard_on_a_finished_thread_changes_nothing(data_dir: Path) -> None:
    first = new_thread(data_dir, "first")
    new_thread(data_dir, "second")
    before = json.loads(run(data_dir, "threads", "--json").stdout)
    out = run(data_dir, "discard", first)
    assert "nothing to discard" in out.stdout
    assert json.loads(run(data_dir, "threads", "--json").stdout) == before


def test_profile_set_adds_a_new_fact(data_dir: Path) -> None:
    run(data_dir, "profile", "set", "like:tea", "green tea")
    facts = json.loads(run(data_dir, "profile", "--json").stdout)
    tea = next(f for f in facts if f["key"] == "like:tea")
    assert tea["value"] == "green tea"
    assert tea["kind"] == "like"
    assert tea["source_text"] == "set by you"
    assert "green tea" in run(data_dir, "send", "--new", "what do you know about me?").stdout


def test_history_all_lists_every_branch_with_ids_rewind_takes(data_dir: Path) -> None:
    thread = new_thread(data_dir, "My name is Alice")
    run(data_dir, "send", "--thread", thread, "I like tea")
    hist = json.loads(run(data_dir, "history", thread, "--json").stdout)
    tea = next(h["id"] for h in hist if h["summary"] == "you: I like tea")
    run(data_dir, "rewind", thread, tea)
    run(data_dir, "send", "--thread", thread, "I like coffee")
    listing = run(data_dir, "history", thread, "--all").stdout
    assert "branch 1 of 2 (current)" in listing and "branch 2 of 2" in listing
    old = listing.split("branch 2 of 2", 1)[1]
    assert "you: I like tea" in old and "coffee" not in old
    assert "step" not in listing
    reply = next(ln.split()[0] for ln in old.splitlines() if "you like tea" in ln)
    run(data_dir, "rewind", thread, reply)
    assert "I like tea" in run(data_dir, "show", thread).stdout
    # --branches says the same: the tea branch (continued by the rewind) is current.
    listing = run(data_dir, "history", thread, "--branches").stdout
    current = listing.split("branch 1 of 2 (current)", 1)[1].split("branch 2 of 2")[0]
    assert "you like tea" in current and "coffee" not in current
    # JSON marks each entry's branch.
    rows = json.loads(run(data_dir, "history", thread, "--all", "--json").stdout)
    assert {r["branch"] for r in rows} == {1, 2}
    assert all(r["current"] == (r["branch"] == 1) for r in rows)
