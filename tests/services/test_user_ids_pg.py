"""Any name a person goes by works as a user id on PostgreSQL too (the
PostgreSQL store keeps namespaces as dot-joined text, like SQLite's), with
Redis holding the session context."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.service import ChatService
from tests.conftest import chat
from tests.services.conftest import PYTHON, ROOT, app_env
from tests.test_user_ids import LOOKALIKES, USER_IDS

pytestmark = pytest.mark.services

Make = Callable[..., ChatService]


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "chat_app", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("user", USER_IDS, ids=lambda u: u[:12])
def test_any_user_id_chats_learns_and_forgets_on_postgres(
    make_service: Make, pg_dsn: str, redis_url: str, tmp_path: Path, user: str
) -> None:
    svc = make_service("postgres", dsn=pg_dsn, user=user, redis_url=redis_url)
    t = svc.create_thread().id
    assert "Bob" in chat(svc, t, "my name is Bob")
    assert not svc.get_thread(t).interrupted
    assert [(f.key, f.value) for f in svc.profile()] == [("name", "Bob")]
    svc.session.set_draft(t, "unsent")

    env = app_env(pg_dsn, redis_url, tmp_path / "cli", user=user)
    shown = run_cli(env, "profile")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("name: Bob"), shown.stdout
    doctor = run_cli(env, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "OK    profile: user" in doctor.stdout

    svc.edit_fact("name", "Robert")
    assert [(f.key, f.value) for f in svc.profile()] == [("name", "Robert")]
    svc.forget("name")
    assert svc.profile() == []
    assert "know your name" in chat(svc, svc.create_thread().id, "What's my name?")
    # The session context (Redis) is this user's too.
    again = make_service("postgres", dsn=pg_dsn, user=user, redis_url=redis_url)
    assert again.session.get_draft(t) == "unsent"


def test_user_ids_never_see_each_others_facts_on_postgres(
    make_service: Make, pg_dsn: str, redis_url: str
) -> None:
    services = {
        user: make_service("postgres", dsn=pg_dsn, user=user, redis_url=redis_url)
        for user in LOOKALIKES
    }
    threads = {}
    for i, (user, svc) in enumerate(services.items()):
        threads[user] = svc.create_thread().id
        chat(svc, threads[user], f"my name is Name{i}")
        svc.session.set_draft(threads[user], f"draft {i}")
    for i, (user, svc) in enumerate(services.items()):
        assert [f.value for f in svc.profile()] == [f"Name{i}"], user
        assert [t.id for t in svc.list_threads()] == [threads[user]], user
        assert svc.session.get_draft(threads[user]) == f"draft {i}", user
    services["a.b"].forget_all()
    for i, (user, svc) in enumerate(services.items()):
        assert [f.value for f in svc.profile()] == ([] if user == "a.b" else [f"Name{i}"]), user
