"""Numeric settings: NaN, infinities and out-of-range values are refused.

One declarative table (``chat_app.config.NUMERIC_RANGES``) bounds every
numeric setting; a bad value from the config file, the environment or the
command line is one line on stderr naming where it came from and the key,
with exit 78, before anything runs on it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chat_app.cli import main
from chat_app.config import EX_CONFIG, NUMERIC_RANGES, SECTIONS, ConfigError, load_settings

NUMERIC_KEYS = [
    (section, f.name, str(f.type))
    for section, cls in SECTIONS.items()
    for f in dataclasses.fields(cls)
    if str(f.type) in ("int", "float")
]
BAD = ["nan", "inf", "-inf", "-1", "huge"]


def _toml(value: str, typ: str) -> str:
    if value == "huge":
        return "1" + "0" * 30 if typ == "int" else "1e300"
    return value


def _env(value: str, typ: str) -> str:
    return _toml(value, typ)


def test_every_numeric_setting_has_a_range() -> None:
    assert NUMERIC_KEYS, "no numeric settings found"
    assert {(s, k) for s, k, _ in NUMERIC_KEYS} == set(NUMERIC_RANGES)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("CHAT_APP_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CHAT_APP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _one_config_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("chat-app: config error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(("section", "key", "typ"), NUMERIC_KEYS)
def test_bad_number_in_the_config_file(
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    key: str,
    typ: str,
    value: str,
) -> None:
    cfg = clean_env / "config.toml"
    cfg.write_text(f"[{section}]\n{key} = {_toml(value, typ)}\n", encoding="utf-8")
    assert main(["--config", str(cfg), "threads"]) == EX_CONFIG
    line = _one_config_line(capsys.readouterr().err)
    assert str(cfg) in line and f"{section}.{key}" in line


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(("section", "key", "typ"), NUMERIC_KEYS)
def test_bad_number_in_the_environment(
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    section: str,
    key: str,
    typ: str,
    value: str,
) -> None:
    name = f"CHAT_APP_{section.upper()}_{key.upper()}"
    monkeypatch.setenv(name, _env(value, typ))
    assert main(["threads"]) == EX_CONFIG
    line = _one_config_line(capsys.readouterr().err)
    assert name in line and f"{section}.{key}" in line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "99999999"])
@pytest.mark.parametrize("key", ["fail", "drop", "kill"])
def test_bad_number_on_the_command_line(
    clean_env: Path, capsys: pytest.CaptureFixture[str], key: str, value: str
) -> None:
    assert main(["--chaos", f"{key}={value}", "threads"]) == EX_CONFIG
    line = _one_config_line(capsys.readouterr().err)
    assert f"--chaos {key}" in line


def test_overrides_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"storage\.busy_timeout_s"):
        load_settings(
            None,
            env={},
            overrides={"storage": {"busy_timeout_s": float("nan")}},
            use_user_config=False,
        )


def test_values_at_the_edges_are_accepted() -> None:
    s = load_settings(
        None,
        env={"CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS": "0", "CHAT_APP_CHAOS_KILL_AFTER_TOKENS": "0"},
        use_user_config=False,
    )
    assert s.model.offline_token_delay_ms == 0 and s.chaos.kill_after_tokens == 0


def test_the_real_program_refuses_without_a_traceback(tmp_path: Path) -> None:
    """The three reported cases, run as the real program."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(CHAT_APP_DATA_DIR=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "x"))
    cfg = tmp_path / "config.toml"
    cases = [
        ("[storage]\nbusy_timeout_s = nan\n", ["threads"], "storage.busy_timeout_s"),
        ("[model]\noffline_token_delay_ms = inf\n", ["send", "--new", "hi"], "offline_token"),
        ("[chaos]\nkill_after_tokens = -1\n", ["send", "--new", "hi"], "kill_after_tokens"),
    ]
    for text, args, key in cases:
        cfg.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "chat_app", "--config", str(cfg), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == EX_CONFIG, (text, proc.returncode, proc.stderr)
        line = _one_config_line(proc.stderr)
        assert str(cfg) in line and key in line
    assert not (tmp_path / "data").exists(), "nothing ran on the bad value"
