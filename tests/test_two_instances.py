"""Two instances on one data dir (T9) and a busy database (T8), for real.

Two `chat-app` processes send to the SAME thread at the same moment: the
per-thread flock makes one wait, so every turn lands on the one branch (no
silent fork). Another connection holding SQLite's write lock makes a turn
wait (busy timeout), and past the timeout gives one clear line, never
"database is locked", with nothing lost.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from chat_app.config import Settings
from chat_app.service import ChatService, ServiceError
from chat_app.service.events import ReplyFailed, ReplyFinished, UserMessageSaved
from graphs.nodes import Extractor
from graphs.offline import OfflineChatModel
from tests.conftest import chat, make_settings

CLI = [sys.executable, "-m", "chat_app"]
USER = "twotest"
TURNS = 25


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(
        CHAT_APP_DATA_DIR=str(data_dir),
        CHAT_APP_USER=USER,
        CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS="0",
        XDG_CONFIG_HOME=str(data_dir.parent / "xdg-config"),
    )
    return env


def test_two_processes_on_one_thread_keep_every_turn(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data, user={"id": USER})
    thread = svc.create_thread("shared").id
    procs = [
        subprocess.Popen(
            [*CLI, "soak", "--thread", thread, "--prefix", prefix, "--count", str(TURNS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env_for(data),
        )
        for prefix in ("a", "b")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.count("ACK ") == TURNS
        assert "locked" not in err
    msgs = svc.load_messages(thread)
    users = [m.text for m in msgs if m.role == "user"]
    assert sorted(users) == sorted(f"{p} {n}" for p in "ab" for n in range(TURNS))
    # Every turn is a user message followed by its reply, on one branch.
    assert [m.role for m in msgs] == ["user", "assistant"] * (2 * TURNS)
    for prefix in "ab":
        mine = [u for u in users if u.startswith(prefix)]
        assert mine == [f"{prefix} {n}" for n in range(TURNS)]  # in order
    hist = svc.history(thread)
    parents = {c.parent_id for c in hist.checkpoints}
    leaves = [c.id for c in hist.checkpoints if c.id not in parents]
    assert leaves == [hist.head_id], "the thread was forked"
    assert svc.get_thread(thread).message_count == 4 * TURNS


def test_thread_created_in_one_instance_is_listed_by_the_other(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data, user={"id": USER})
    mine = svc.create_thread("from instance one").id
    listed = subprocess.run(
        [*CLI, "threads", "--json"], capture_output=True, text=True, env=env_for(data), timeout=60
    )
    assert mine in {t["id"] for t in json.loads(listed.stdout)}
    sent = subprocess.run(
        [*CLI, "send", "--new", "from instance two"],
        capture_output=True,
        text=True,
        env=env_for(data),
        timeout=60,
    )
    theirs = sent.stderr.strip().splitlines()[-1]
    # The same open service sees it without a restart.
    assert theirs in {t.id for t in svc.list_threads()}
    assert svc.load_messages(theirs)[0].text == "from instance two"


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Callable[[Path, float], threading.Thread]]:
    """Another connection that holds the write lock (BEGIN IMMEDIATE) for a while."""
    threads: list[threading.Thread] = []

    def hold(db: Path, seconds: float) -> threading.Thread:
        taken = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            conn.execute("COMMIT")
            conn.close()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads.append(t)
        assert taken.wait(10)
        return t

    yield hold
    for t in threads:
        t.join(15)


def test_busy_for_3_s_waits_and_succeeds(
    service_factory: Callable[..., ChatService],
    holder: Callable[[Path, float], threading.Thread],
) -> None:
    svc = service_factory()
    t = svc.create_thread().id
    chat(svc, t, "first")
    assert svc.db_path is not None
    holder(svc.db_path, 3.0)
    t0 = time.monotonic()
    assert chat(svc, t, "second")
    assert time.monotonic() - t0 >= 2.5
    assert [m.text for m in svc.load_messages(t)][::2] == ["first", "second"]


def test_busy_past_the_timeout_is_one_clear_line_and_nothing_is_lost(
    service_factory: Callable[..., ChatService],
    holder: Callable[[Path, float], threading.Thread],
) -> None:
    svc = service_factory(storage={"busy_timeout_s": 0.5})
    t = svc.create_thread().id
    chat(svc, t, "first")
    assert svc.db_path is not None
    held = holder(svc.db_path, 2.0)
    t0 = time.monotonic()
    with pytest.raises(ServiceError) as err:
        list(svc.send(t, "second"))
    assert time.monotonic() - t0 < 1.9
    msg = str(err.value)
    assert "database is busy" in msg and str(svc.db_path) in msg and "\n" not in msg
    assert "locked" not in msg
    # Nothing half-saved: the person still has the text and can send it again.
    assert [m.text for m in svc.load_messages(t)][::2] == ["first"]
    assert not svc.get_thread(t).interrupted
    held.join()
    chat(svc, t, "second")
    assert [m.text for m in svc.load_messages(t)][::2] == ["first", "second"]


# A model whose first token lets the test take the write lock mid-reply.
ON_FIRST_TOKEN: list[Callable[[], None]] = []


class HookedModel(OfflineChatModel):
    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        for i, chunk in enumerate(super()._chunks(messages)):
            if i == 0 and ON_FIRST_TOKEN:
                ON_FIRST_TOKEN.pop()()
            yield chunk


def hooked_factory(settings: Settings) -> tuple[OfflineChatModel, Extractor | None]:
    return HookedModel(), None


def test_busy_mid_reply_fails_clearly_then_resumes_once(
    tmp_path: Path, holder: Callable[[Path, float], threading.Thread]
) -> None:
    svc = ChatService(
        make_settings(tmp_path / "data", storage={"busy_timeout_s": 0.5}),
        model_factory=hooked_factory,
    )
    try:
        t = svc.create_thread().id
        chat(svc, t, "first")
        assert svc.db_path is not None
        db = svc.db_path
        held: list[threading.Thread] = []
        ON_FIRST_TOKEN.append(lambda: held.append(holder(db, 2.0)))
        events = list(svc.send(t, "second"))
        failed = [e for e in events if isinstance(e, ReplyFailed)]
        assert len(failed) == 1 and not any(isinstance(e, ReplyFinished) for e in events)
        assert any(isinstance(e, UserMessageSaved) for e in events)
        assert re.search(r"database is busy", failed[0].reason)
        assert failed[0].can_retry
        assert [p.thread_id for p in svc.pending_runs()] == [t]
        held[0].join()  # the other writer is done: the person presses Retry
        finished = [e for e in svc.resume(t) if isinstance(e, ReplyFinished)]
        assert len(finished) == 1
        msgs = svc.load_messages(t)
        assert [m.role for m in msgs] == ["user", "assistant"] * 2
        assert [m.text for m in msgs][::2] == ["first", "second"]
    finally:
        svc.close()
