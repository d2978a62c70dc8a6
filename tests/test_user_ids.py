"""Any name a person goes by works as a user id: replies, profile, isolation.

Store namespace labels may not contain ``.``; login names and e-mail
addresses do. These run the real service on SQLite and the real CLI.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_app.config import ConfigError, load_settings
from chat_app.service import ChatService, ServiceError
from chat_app.service.events import ReplyFailed
from graphs.user_key import user_from_label, user_label
from tests.conftest import chat

Make = Callable[..., ChatService]

# What people are called: login names, e-mail addresses, names with spaces and
# accents, a long one, and the odd ones (a separator, a percent sign).
USER_IDS = ["john.doe", "alice@example.com", "a+b", "Zoë Ng", "x" * 200, "a/b", "50%"]
# Ids that an encoding could confuse with one another.
LOOKALIKES = ["a.b", "a", "a_b", "a%2Eb", "a%b", "a:b", "a*", "a b", "ab", "a.b.c", "A.B"]

CLI = [sys.executable, "-m", "chat_app"]


def run_cli(data_dir: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHAT_APP_", "OPENAI_")) and k not in ("LOGNAME", "USER")
    }
    env.update(
        CHAT_APP_DATA_DIR=str(data_dir),
        CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS="0",
        XDG_CONFIG_HOME=str(data_dir.parent / "xdg-config"),
        LOGNAME="tester",
    )
    env.update(env_extra)
    return subprocess.run(CLI + list(args), capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("user", USER_IDS, ids=lambda u: u[:12])
def test_any_user_id_chats_learns_and_forgets(
    service_factory: Make, tmp_path: Path, user: str
) -> None:
    svc = service_factory(user={"id": user})
    assert svc.user_id == user
    t = svc.create_thread().id
    assert "Bob" in chat(svc, t, "my name is Bob")
    assert [(f.key, f.value) for f in svc.profile()] == [("name", "Bob")]
    svc.close()

    shown = run_cli(tmp_path / "data", "--user", user, "profile")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("name: Bob"), shown.stdout

    svc = service_factory(user={"id": user})
    svc.edit_fact("name", "Robert")
    assert [(f.key, f.value) for f in svc.profile()] == [("name", "Robert")]
    svc.forget("name")
    assert svc.profile() == []
    # A new thread: the offline model also recalls what the thread itself says.
    assert "know your name" in chat(svc, svc.create_thread().id, "What's my name?")


def test_user_ids_never_see_each_others_facts(service_factory: Make) -> None:
    services = {user: service_factory(user={"id": user}) for user in LOOKALIKES}
    for i, (user, svc) in enumerate(services.items()):
        chat(svc, svc.create_thread().id, f"my name is Name{i}")
    for i, (user, svc) in enumerate(services.items()):
        assert [f.value for f in svc.profile()] == [f"Name{i}"], user
    # Forgetting everything of one id leaves every other id's profile alone.
    services["a.b"].forget_all()
    for i, (user, svc) in enumerate(services.items()):
        assert [f.value for f in svc.profile()] == ([] if user == "a.b" else [f"Name{i}"]), user


def test_ids_without_dots_keep_their_old_store_namespace(service_factory: Make) -> None:
    """Profiles an older version wrote (raw id as the label) are found as they are."""
    svc = service_factory(user={"id": "old_user-1@host"})
    svc.backend.store.put(("profile", "old_user-1@host"), "name", {"kind": "name", "value": "Ann"})
    assert [f.value for f in svc.profile()] == ["Ann"]


@given(st.text(min_size=1, max_size=40))
def test_user_label_is_a_valid_label_and_reversible(user: str) -> None:
    label = user_label(user)
    assert label and "." not in label and "\x00" not in label and "*" not in label
    assert ":" not in label
    assert user_from_label(label) == user


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_user_label_is_injective(a: str, b: str) -> None:
    assert (user_label(a) == user_label(b)) == (a == b)


def test_plain_ids_are_their_own_label() -> None:
    for user in ("alice", "bob_smith", "x-1", "me@host", "Zoë Ng", "a/b"):
        assert user_label(user) == user
    assert user_label("john.doe") == "john%2Edoe"
    assert user_label("50%") == "50%25"


def test_login_name_with_a_dot_is_the_default_user(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sent = run_cli(data, "send", "my name is Bob", LOGNAME="john.doe")
    assert sent.returncode == 0, sent.stderr
    assert "Bob" in sent.stdout
    shown = run_cli(data, "profile", LOGNAME="john.doe")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("name: Bob"), shown.stdout
    # It is john.doe's profile, not a fallback shared by everyone.
    other = run_cli(data, "profile", LOGNAME="jane")
    assert other.returncode == 0 and other.stdout == "", other
    forgot = run_cli(data, "profile", "forget", "name", LOGNAME="john.doe")
    assert forgot.returncode == 0, forgot.stderr
    assert run_cli(data, "profile", LOGNAME="john.doe").stdout == ""
    assert run_cli(data, "doctor", LOGNAME="john.doe").returncode == 0


def test_environment_user_with_a_dot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sent = run_cli(data, "send", "my name is Bob", CHAT_APP_USER="a.b")
    assert sent.returncode == 0, sent.stderr
    shown = run_cli(data, "profile", CHAT_APP_USER="a.b")
    assert shown.returncode == 0 and shown.stdout.startswith("name: Bob"), shown


@pytest.mark.parametrize(
    ("raw", "user"),
    [("  bob  ", "bob"), ("Zoë Ng", "Zoë Ng"), ("a/b", "a/b"), ("x" * 256, "x" * 256)],
)
def test_user_ids_are_kept_without_the_spaces_around_them(raw: str, user: str) -> None:
    settings = load_settings(None, env={}, overrides={"user": {"id": raw}}, use_user_config=False)
    assert settings.user_id == user


@pytest.mark.parametrize("raw", ["   ", "a\nb", "a\x1bb", "x" * 257, "bad\udcffbyte"])
def test_impossible_user_ids_are_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^user\.id: "):
        load_settings(None, env={}, overrides={"user": {"id": raw}}, use_user_config=False)


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_user_option_is_one_line_usage_error(tmp_path: Path, raw: str) -> None:
    proc = run_cli(tmp_path / "data", "--user", raw, "profile")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "chat-app: --user: is empty; give a name, or leave it unset to use the login name"
    ]
    assert not (tmp_path / "data").exists()


def damage_profile_store(db: Path) -> None:
    """A profile item whose stored value is no longer JSON (a damaged row)."""
    conn = sqlite3.connect(db)
    with conn:
        assert conn.execute("UPDATE store SET value = '{not json'").rowcount == 1
    conn.close()


def test_a_failing_profile_store_is_a_storage_error_not_a_model_error(
    service_factory: Make, tmp_path: Path
) -> None:
    svc = service_factory(user={"id": "bob"})
    t = svc.create_thread().id
    chat(svc, t, "my name is Bob")
    assert svc.db_path is not None
    damage_profile_store(svc.db_path)

    failed = [e for e in svc.send(t, "hello again") if isinstance(e, ReplyFailed)]
    assert len(failed) == 1
    reason = failed[0].reason
    assert "model" not in reason, reason
    assert reason.startswith("profile store: could not read the profile of user 'bob'"), reason
    assert "\n" not in reason
    assert failed[0].can_retry  # the message is kept; the reply can be retried
    assert [m.text for m in svc.load_messages(t)][-1] == "hello again"
    with pytest.raises(ServiceError, match=r"^profile store: could not read"):
        svc.profile()
    svc.close()

    data = tmp_path / "data"
    shown = run_cli(data, "--user", "bob", "profile")
    assert shown.returncode == 1
    assert shown.stderr.startswith("chat-app: profile store: could not read"), shown.stderr
    assert "internal error" not in shown.stderr
    doctor = run_cli(data, "--user", "bob", "doctor")
    assert doctor.returncode == 1, doctor.stdout
    assert "FAIL  profile: cannot read the profile of user 'bob'" in doctor.stdout
    assert "healthy" not in doctor.stdout
