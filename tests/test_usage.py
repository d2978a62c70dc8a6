"""Usage a person can see: tokens in and out per reply, kept with the reply,
shown in History and `history --json`; the running summary has its History entry."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from chat_app.service import ChatService
from tests.conftest import chat, make_settings
from tests.fake_openai import FakeOpenAI
from tests.ui.conftest import bulk_thread

KEY = "sk-test-" + "u" * 32


def assistant_entries(svc: ChatService, tid: str) -> list:
    return [c for c in svc.history(tid).checkpoints if c.kind == "assistant"]


def test_the_servers_token_counts_are_kept_with_each_reply(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path / "data",
        model={"name": "openai:fake-model", "base_url": fake.base_url, "max_attempts": 2},
    )
    svc = ChatService(dataclasses.replace(settings, api_key=KEY))
    tid = svc.create_thread().id
    chat(svc, tid, "what is the capital of norway")
    streamed = [r for r in fake.requests if r.stream]
    assert len(streamed) == 1
    assert streamed[0].body["stream_options"]["include_usage"] is True
    [entry] = assistant_entries(svc, tid)
    reply = svc.load_messages(tid)[-1].text
    # The loopback server counts words: what it said is what is kept.
    from tests.fake_openai import _usage

    expected = _usage(streamed[0].body, reply)
    assert (entry.input_tokens, entry.output_tokens) == (
        expected["prompt_tokens"],
        expected["completion_tokens"],
    )
    svc.close()


def test_offline_replies_carry_estimated_usage_shown_by_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = ChatService(make_settings(data, user={"id": "u"}))
    tid = svc.create_thread().id
    chat(svc, tid, "hello there")
    chat(svc, tid, "tell me more")
    entries = assistant_entries(svc, tid)
    assert len(entries) == 2
    assert all(e.input_tokens and e.output_tokens for e in entries)
    # The second request carried the first turn too.
    assert entries[1].input_tokens > entries[0].input_tokens
    svc.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_APP_")}
    env.update(CHAT_APP_DATA_DIR=str(data), CHAT_APP_USER="u")
    out = subprocess.run(
        [sys.executable, "-m", "chat_app", "history", tid, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    rows = [r for r in json.loads(out) if r["kind"] == "assistant"]
    assert [r["input_tokens"] for r in rows] == sorted(
        [e.input_tokens for e in entries], reverse=True
    )
    text = subprocess.run(
        [sys.executable, "-m", "chat_app", "history", tid],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert "tokens in," in text


def test_a_new_running_summary_has_its_history_entry(tmp_path: Path) -> None:
    svc = ChatService(make_settings(tmp_path / "data", user={"id": "u"}))
    tid = bulk_thread(svc, 400)
    chat(svc, tid, "and one more question")
    summaries = [c for c in svc.history(tid).checkpoints if c.kind == "summary"]
    assert len(summaries) == 1
    found = svc.history_summary(tid)
    assert found is not None
    assert f"the first {found.covers} messages" in summaries[0].summary
    # The next turn fits beside that summary: no second entry.
    chat(svc, tid, "thanks")
    assert len([c for c in svc.history(tid).checkpoints if c.kind == "summary"]) == 1
    svc.close()
