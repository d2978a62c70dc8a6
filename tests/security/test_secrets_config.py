"""Secrets never reach disk or output; files are private; bad config is one clear line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_app.config import load_settings
from chat_app.safe_text import redact_secrets
from chat_app.service import ChatService
from chat_app.service.events import ReplyFailed
from tests.fake_openai import FakeOpenAI
from tests.security.conftest import CLI, REPO, cli_env, one_error_line, run_cli
from tests.services.conftest import (  # noqa: F401 - fixtures
    free_port,
    pg_database,
    pg_dsn,
    require_redis,
)

SENTINEL = "sk-SENTINEL-7f3a9c1e5b2d4f6a8c0e"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def scan(paths: list[Path], *texts: str) -> list[str]:
    """Every file under ``paths`` and every text that contains the sentinel."""
    hits = []
    needle = SENTINEL.encode()
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            if needle in f.read_bytes():
                hits.append(str(f))
    hits += [f"text {i}" for i, t in enumerate(texts) if SENTINEL in t]
    return hits


def test_sentinel_key_never_written_or_printed(
    tmp_path: Path,
    fake: FakeOpenAI,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    data_dir = tmp_path / "data"
    settings = load_settings(
        None,
        env={"OPENAI_API_KEY": SENTINEL, "OPENAI_BASE_URL": fake.base_url},
        overrides={
            "storage": {"data_dir": str(data_dir)},
            "model": {"name": "openai:fake", "max_attempts": 2, "backoff_initial_s": 0.01},
        },
        use_user_config=False,
    )
    assert SENTINEL not in repr(settings) and SENTINEL not in json.dumps(settings.public_dict())
    svc = ChatService(settings, sleep=lambda s: None)
    tid = svc.create_thread("t").id
    outcomes = []
    fake.ok("fine")
    fake.status(401, {"error": {"message": f"Incorrect API key provided: {SENTINEL}", "type": "x"}})
    fake.status(500, times=2)
    fake.drop_after(1, "cut short here", times=2)
    fake.eof_without_finish(1, "no finish here", times=2)
    for text in ["hello", "again", "third", "fourth", "fifth"]:
        failed = [ev for ev in svc.send(tid, text) if isinstance(ev, ReplyFailed)]
        outcomes += [ev.reason for ev in failed]
        if any(ev.can_retry for ev in failed):
            svc.discard(tid)
    # Replies and profile extractions share the scripted faults: at least
    # the 500, the dropped stream and the unfinished stream reach a reply.
    assert len(outcomes) >= 3, outcomes
    assert any(r.behaviour == "status" for r in fake.requests)
    assert any(r.authorization == f"Bearer {SENTINEL}" for r in fake.requests)
    export = tmp_path / "export.json"
    export.write_text(svc.export_thread(tid, "json"))
    (tmp_path / "export.md").write_text(svc.export_thread(tid, "md"))
    svc.delete_thread(svc.create_thread("x").id)
    svc.close()
    out = capsys.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert scan([data_dir, export, tmp_path / "export.md"], out.out, out.err, logs, *outcomes) == []


def test_sentinel_not_in_files_after_cli_failure_and_crash(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(
        data_dir,
        OPENAI_API_KEY=SENTINEL,
        OPENAI_BASE_URL=fake.base_url,
        CHAT_APP_MODEL="openai:fake",
        CHAT_APP_MODEL_MAX_ATTEMPTS="1",
    )
    fake.status(401, {"error": {"message": f"Incorrect API key provided: {SENTINEL}"}})
    failed = subprocess.run(
        [*CLI, "send", "--new", "hi"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert failed.returncode == 1
    assert "reply failed" in failed.stderr
    # A crash mid-reply: SIGKILL while the server stalls after the first token.
    fake.stall_after(1, 20, "partial reply text")
    proc = subprocess.Popen(
        [*CLI, "send", "--new", "crash me"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert fake.wait_for_requests(2, timeout=30)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
    assert any(r.authorization == f"Bearer {SENTINEL}" for r in fake.requests)
    texts = [
        failed.stdout,
        failed.stderr,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
    ]
    assert scan([data_dir], *texts) == []


def test_config_command_shows_no_key_and_key_file_must_be_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shown = run_cli(data_dir, "config", OPENAI_API_KEY=SENTINEL)
    assert shown.returncode == 0
    assert SENTINEL not in shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["model"]["api_key"] == "(set)"

    key = tmp_path / "key"
    key.write_text(SENTINEL)
    key.chmod(0o644)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[model]\napi_key_file = "{key}"\n')
    bad = run_cli(data_dir, "--config", str(cfg), "config")
    assert bad.returncode == 78
    line = one_error_line(bad)
    assert "readable by others" in line and "chmod 600" in line
    assert SENTINEL not in bad.stdout + bad.stderr
    key.chmod(0o600)
    ok = run_cli(data_dir, "--config", str(cfg), "config")
    assert ok.returncode == 0 and SENTINEL not in ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["model"]["api_key"] == "(set)"


def test_files_are_private_with_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data_dir = tmp_path / "fresh" / "data"
        settings = load_settings(
            None, env={}, overrides={"storage": {"data_dir": str(data_dir)}}, use_user_config=False
        )
        svc = ChatService(settings)
        tid = svc.create_thread("t").id
        list(svc.send(tid, "hello"))
        # While the connections are open the -wal and -shm files exist.
        names = {p.name for p in data_dir.iterdir()}
        assert {"chat.db", "chat.db-wal", "chat.db-shm"} <= names
        assert data_dir.stat().st_mode & 0o777 == 0o700
        for p in data_dir.rglob("*"):
            mode = p.stat().st_mode & 0o777
            assert mode & 0o077 == 0, (p, oct(mode))
        svc.close()
    finally:
        os.umask(old)


BROKEN_CONFIGS = {
    "missing equals": ('[model]\nname "offline"\n', ":2:"),
    "unterminated string": ('[model]\nname = "offline\n', ":2:"),
    "duplicate key": ('[model]\nname = "offline"\nname = "offline"\n', ":3:"),
    "duplicate table": ("[model]\n[model]\n", ":2:"),
    "nul": ('[model]\nname = "off\x00line"\n', ":2:"),
    "bad utf8 byte": (b"[model]\nname = '\xff'\n", "not valid UTF-8"),
    "wrong type": (
        '[model]\nmax_attempts = "many"\n',
        "model.max_attempts: expected a whole number",
    ),
    "wrong type bool": ("[ui]\nshow_sidebar = 3\n", "ui.show_sidebar: expected true or false"),
    "table not section": ('model = "x"\n', "[model] must be a table"),
}
# Checked after parsing: the line names the key instead of the file position.
BAD_VALUES = {
    "unknown model": ('[model]\nname = "gpt-5"\n', "model.name: unknown model"),
    "bad base_url": ('[model]\nname = "openai:x"\nbase_url = "file:///x"\n', "model.base_url"),
    "negative attempts": ("[model]\nmax_attempts = 0\n", "model.max_attempts"),
    # Any name is an id ("../../etc" too: it is never part of a path); blank is not.
    "blank user id": ('[user]\nid = "   "\n', "user.id: is empty"),
}


@pytest.mark.parametrize("name", [*BROKEN_CONFIGS, *BAD_VALUES])
def test_broken_config_is_one_line_exit_78(tmp_path: Path, name: str) -> None:
    body, expected = BROKEN_CONFIGS.get(name) or BAD_VALUES[name]
    cfg = tmp_path / "bad.toml"
    if isinstance(body, bytes):
        cfg.write_bytes(body)
    else:
        cfg.write_text(body)
    proc = run_cli(tmp_path / "data", "--config", str(cfg), "config", OPENAI_API_KEY=SENTINEL)
    assert proc.returncode == 78, proc.stderr
    line = one_error_line(proc)
    prefix = "chat-app: config error: " + (str(cfg) if name in BROKEN_CONFIGS else "")
    assert line.startswith(prefix), line
    assert expected in line, line
    assert SENTINEL not in proc.stdout + proc.stderr
    assert not (tmp_path / "data").exists()  # no data touched


def test_config_bom_unknown_key_and_directory(tmp_path: Path) -> None:
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes(b'\xef\xbb\xbf[model]\nname = "offline"\ncolour = "red"\n[nope]\n')
    proc = run_cli(tmp_path / "data", "--config", str(cfg), "config")
    assert proc.returncode == 0
    assert "unknown key model.colour ignored" in proc.stderr
    assert "unknown section [nope] ignored" in proc.stderr
    # A directory where the file should be (chmod 000 cannot be tested as root).
    proc = run_cli(tmp_path / "data", "--config", str(tmp_path), "config")
    assert proc.returncode == 78 and "is a directory" in one_error_line(proc)


def test_unreachable_services_are_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc = run_cli(
        data_dir,
        "send",
        "--new",
        "hello",
        OPENAI_API_KEY=SENTINEL,
        CHAT_APP_MODEL="openai:fake",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        CHAT_APP_MODEL_MAX_ATTEMPTS="1",
        CHAT_APP_MODEL_CONNECT_TIMEOUT_S="2",
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and SENTINEL not in proc.stderr
    failures = [ln for ln in proc.stderr.splitlines() if ln.startswith("chat-app:")]
    assert len(failures) == 1 and "reply failed" in failures[0], proc.stderr
    redis = run_cli(
        data_dir,
        "threads",
        CHAT_APP_SHORT_TERM_REDIS_URL=f"redis://:{SENTINEL}@127.0.0.1:9/0",
    )
    assert "Traceback" not in redis.stderr and SENTINEL not in redis.stderr + redis.stdout
    if redis.returncode != 0:
        assert "redis" in one_error_line(redis).lower()
    else:  # falls back to the in-process tier, saying so exactly once
        lines = [ln for ln in redis.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Redis does not answer" in lines[0], lines


def test_unreachable_postgres_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pg_connection = pytest.importorskip("chat_app.storage.postgres.connection")
    from chat_app.storage.errors import StorageError

    monkeypatch.setattr(pg_connection, "CONNECT_TIMEOUT_S", 0.5)
    settings = load_settings(
        None,
        env={},
        overrides={
            "storage": {
                "data_dir": str(tmp_path / "data"),
                "backend": "postgres",
                "dsn": f"postgresql://u:{SENTINEL}@127.0.0.1:9/x",
            }
        },
        use_user_config=False,
    )
    with pytest.raises(StorageError) as err:
        ChatService(settings)
    text = str(err.value)
    assert "\n" not in text and "PostgreSQL" in text and SENTINEL not in text


# -- passwords in URLs and DSNs ----------------------------------------------------------

REDACTIONS = {
    "postgresql://app:s3cret@db:5432/chat?sslmode=require": (
        "postgresql://app:***@db:5432/chat?sslmode=require"
    ),
    "redis://:s3cret@cache:6379/0": "redis://:***@cache:6379/0",
    "rediss://default:s3cret@cache/0": "rediss://default:***@cache/0",
    "https://bob:s3cret@llm.example/v1": "https://bob:***@llm.example/v1",
    "http://llm.example/v1?key=s3cret&x=1": "http://llm.example/v1?key=***&x=1",
    "http://h/v1?api_key=s3cret": "http://h/v1?api_key=***",
    "http://h/v1?x=1&token=s3cret#frag": "http://h/v1?x=1&token=***#frag",
    "postgresql://h/db?password=s3cret&user=a": "postgresql://h/db?password=***&user=a",
    "host=db user=app password=s3cret dbname=chat": "host=db user=app password=*** dbname=chat",
    "host=db password = 's3 cr\\'et' port=5": "host=db password = *** port=5",
    "sslpassword=s3cret host=db": "sslpassword=*** host=db",
    "no redis://u:s3cret@h:1/0 (refused)": "no redis://u:***@h:1/0 (refused)",
    "postgresql://u:p@ss:s3cret@h/db": "postgresql://u:***@h/db",
}
UNCHANGED = [
    "postgresql://app@db:5432/chat",
    "https://api.openai.com/v1",
    "see https://someone@example.com/page",
    "plain text with a key and a password in prose",
    "/home/me/.local/share/chat-app",
]


@pytest.mark.parametrize("text", REDACTIONS)
def test_redact_secrets(text: str) -> None:
    assert redact_secrets(text) == REDACTIONS[text]
    assert "s3cret" not in redact_secrets(text)


@pytest.mark.parametrize("text", UNCHANGED)
def test_redact_secrets_leaves_the_rest(text: str) -> None:
    assert redact_secrets(text) == text


PASSWORD_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Z"), blacklist_characters="@/?#&:'"
)


@given(st.text(alphabet=PASSWORD_CHARS, min_size=4))
def test_any_password_in_a_url_is_redacted(password: str) -> None:
    for form in (
        "postgresql://u:{}@h:5432/db",
        "redis://:{}@h:6379/0",
        "http://h/v1?x=1&token={}",
        "host=h password={} dbname=d",
    ):
        # Exactly the password goes (it may also be a word of the rest: "name").
        assert redact_secrets(form.format(password)) == form.format("***"), form


PG_PASS = "pgPASS-3f9a1c77"
REDIS_PASS = "rdPASS-8b2e4d55"
BASE_PASS = "basePASS-5c7d9e33"
ENV_KEY = "sk-ENVKEY-1a2b3c4d5e"
FILE_KEY = "sk-FILEKEY-9z8y7x6w5v"
PLANTED = (PG_PASS, REDIS_PASS, BASE_PASS, ENV_KEY, FILE_KEY)


def every_command(
    run: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path, migrate_to: str
) -> list[subprocess.CompletedProcess[str]]:
    """Run every CLI command (the TUI aside) once, the later ones on the thread
    the first send made when there is one; failures are expected."""
    done = [run("config"), run("doctor"), run("doctor", "--full")]
    done.append(sent := run("send", "--new", "hello"))
    tid = (sent.stderr.split() or ["none"])[-1]
    tid = next((w for w in sent.stderr.split() if len(w) == 36), tid)
    done += [run("send", "--thread", tid, "again"), run("threads"), run("threads", "--json")]
    done.append(hist := run("history", tid, "--json", "--all"))
    first = json.loads(hist.stdout)[-1]["id"] if hist.returncode == 0 else "none"
    done += [run("history", tid), run("show", tid), run("export", tid)]
    done.append(exported := run("export", tid, "--format", "json"))
    file = tmp_path / "exported.json"
    file.write_text(exported.stdout or "{}")
    done += [
        run("import", str(file), "--new-id"),
        run("rename", tid, "renamed"),
        run("rewind", tid, first),
        run("resume", tid),
        run("discard", tid),
        run("recover"),
        run("--auto-resume", "recover"),
        run("prune", "--dry-run"),
        run("prune"),
        run("profile"),
        run("profile", "--json"),
        run("profile", "set", "name", "Bob"),
        run("profile", "forget", "nothing"),
        run("profile", "forget", "all"),
        run("soak", "--thread", "soak-thread", "--count", "1"),
        run("migrate", "--to", migrate_to),
        run("delete", tid),
        run("show", "no-such-thread"),
    ]
    return done


def leaks(data_dir: Path, done: list[subprocess.CompletedProcess[str]]) -> list[str]:
    """Each planted secret found in an output or in a file under the data dir."""
    found = []
    for secret in PLANTED:
        for proc in done:
            if secret in proc.stdout + proc.stderr:
                found.append(f"{secret} in output of {proc.args[3:]}")
        for f in (p for p in data_dir.rglob("*") if p.is_file()):
            if secret.encode() in f.read_bytes():
                found.append(f"{secret} in {f}")
    return found


@pytest.mark.services
def test_no_password_or_key_in_any_output_or_file_with_working_services(
    tmp_path: Path, request: pytest.FixtureRequest, fake: FakeOpenAI
) -> None:
    require_redis()
    data_dir = tmp_path / "data"
    dsn = str(request.getfixturevalue("pg_dsn")).replace("postgres@", f"postgres:{PG_PASS}@", 1)
    base = fake.base_url.replace("://", f"://user:{BASE_PASS}@", 1)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[storage]\nbackend = "postgres"\ndsn = "{dsn}"\n'
        f'[short_term]\nredis_url = "redis://:{REDIS_PASS}@127.0.0.1:6379/0"\n'
        f'[model]\nname = "openai:fake"\nbase_url = "{base}"\nmax_attempts = 1\n'
    )
    fake.status(401, {"error": {"message": f"Incorrect API key provided: {ENV_KEY}"}})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(data_dir, "--config", str(cfg), *args, OPENAI_API_KEY=ENV_KEY)

    done = every_command(run, tmp_path, dsn)
    shown = json.loads(done[0].stdout)
    assert shown["storage"]["dsn"].startswith("postgresql://postgres:***@")
    assert shown["short_term"]["redis_url"] == "redis://:***@127.0.0.1:6379/0"
    assert shown["model"]["base_url"].startswith("http://user:***@127.0.0.1:")
    # The model server was used (httpx sends the URL's user:password as Basic
    # auth in place of the bearer key).
    assert len(fake.requests) >= 3
    failed = [(p.args[3:], p.stderr) for p in done if p.returncode != 0]
    assert len(failed) <= 10, failed
    assert leaks(data_dir, done) == []


def test_no_password_or_key_in_any_output_or_file_when_everything_is_down(
    tmp_path: Path,
) -> None:
    """SQLite with PostgreSQL (for migrate), Redis and the model server all on
    closed loopback ports; the key from a key file."""
    data_dir = tmp_path / "data"
    closed = free_port()
    key = tmp_path / "key"
    key.write_text(FILE_KEY)
    key.chmod(0o600)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[storage]\ndsn = "host=127.0.0.1 port={closed} user=app password={PG_PASS}"\n'
        f'[short_term]\nredis_url = "redis://:{REDIS_PASS}@127.0.0.1:{closed}/0"\n'
        f'[model]\nname = "openai:x"\napi_key_file = "{key}"\nmax_attempts = 1\n'
        f'base_url = "http://user:{BASE_PASS}@127.0.0.1:{closed}/v1?key={BASE_PASS}"\n'
        "connect_timeout_s = 2\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(data_dir, "--config", str(cfg), *args)

    done = every_command(run, tmp_path, f"postgresql://app:{PG_PASS}@127.0.0.1:{closed}/x")
    shown = json.loads(done[0].stdout)
    assert shown["storage"]["dsn"].endswith("user=app password=***")
    assert any("reply failed" in p.stderr for p in done)
    assert leaks(data_dir, done) == []
    # And with PostgreSQL itself down every command fails in one line, no secret.
    pg_cfg = tmp_path / "pg.toml"
    pg_cfg.write_text(
        f'[storage]\nbackend = "postgres"\n'
        f'dsn = "postgresql://app:{PG_PASS}@127.0.0.1:{closed}/x?password={PG_PASS}"\n'
    )
    # Every command but config, doctor and migrate opens the database first
    # and stops there (8 s each): a few stand for them all.
    down = [
        run_cli(data_dir, "--config", str(pg_cfg), *args, OPENAI_API_KEY=ENV_KEY)
        for args in (
            ["config"],
            ["doctor"],
            ["send", "--new", "hello"],
            ["threads"],
            ["migrate", "--to", f"postgresql://app:{PG_PASS}@127.0.0.1:{closed}/x"],
        )
    ]
    for proc in down[1:]:
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(len(p.stderr.splitlines()) <= 1 for p in down), [p.stderr for p in down]
    assert leaks(data_dir, down) == []
