"""Settings: precedence, and one clear error per bad value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chat_app.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[model]\nname = "openai:from-file"\nmax_attempts = 3\n')
    s = load_settings(str(cfg), env={}, use_user_config=False)
    assert s.model.name == "openai:from-file" and s.model.max_attempts == 3
    s = load_settings(
        str(cfg),
        env={"CHAT_APP_MODEL": "offline", "CHAT_APP_MODEL_MAX_ATTEMPTS": "4"},
        use_user_config=False,
    )
    assert s.model.name == "offline" and s.model.max_attempts == 4
    s = load_settings(
        str(cfg),
        env={"CHAT_APP_MODEL": "offline"},
        overrides={"model": {"name": "openai:flag"}},
        use_user_config=False,
    )
    assert s.model.name == "openai:flag"


def test_repository_config_toml_is_the_defaults() -> None:
    path = Path(__file__).resolve().parents[1] / "config.toml"
    from_file = load_settings(str(path), env={}, use_user_config=False)
    defaults = load_settings(None, env={}, use_user_config=False)
    assert from_file.public_dict() == defaults.public_dict()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[model]\nname = "offline\n', ":2:"),
        ("[model]\nname = \n", ":2:"),
        ('[model]\nname = "a"\nname = "b"\n', ":3:"),
        ('[model]\nmax_attempts = "five"\n', "model.max_attempts: expected a whole number"),
        ("[model]\nread_timeout_s = true\n", "model.read_timeout_s: expected a number"),
        ("[ui]\nshow_sidebar = 3\n", "ui.show_sidebar: expected true or false"),
        ('[model]\nname = "gpt"\n', "model.name: unknown model"),
        ('[storage]\nbackend = "mongo"\n', "storage.backend"),
        ("model = 3\n", "[model] must be a table"),
        ('[model]\nbase_url = "ftp://x"\n', "model.base_url"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(str(path), env={}, use_user_config=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert expected in msg
    if "model.name" not in expected and "storage" not in expected and "base_url" not in expected:
        assert str(path) in msg


def test_bom_nul_directory_and_unreadable(tmp_path: Path) -> None:
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b'\xef\xbb\xbf[model]\nname = "offline"\n')
    assert load_settings(str(bom), env={}, use_user_config=False).model.name == "offline"
    nul = tmp_path / "nul.toml"
    nul.write_bytes(b'[model]\nname = "off\x00line"\n')
    with pytest.raises(ConfigError, match=r"nul\.toml"):
        load_settings(str(nul), env={}, use_user_config=False)
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(str(tmp_path), env={}, use_user_config=False)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "missing.toml"), env={}, use_user_config=False)


def test_unknown_keys_warn_and_name_them(tmp_path: Path) -> None:
    path = write(tmp_path, "[model]\ncolour = 1\n[nonsense]\nx = 1\n")
    warnings: list[str] = []
    load_settings(str(path), env={"CHAT_APP_BOGUS": "1"}, use_user_config=False, warnings=warnings)
    joined = "\n".join(warnings)
    assert "model.colour" in joined and "[nonsense]" in joined and "CHAT_APP_BOGUS" in joined


def test_key_file_must_be_private_and_key_never_shown(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("sk-SENTINEL-123\n")
    os.chmod(key, 0o644)
    path = write(tmp_path, f'[model]\napi_key_file = "{key}"\n')
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings(str(path), env={}, use_user_config=False)
    os.chmod(key, 0o600)
    s = load_settings(str(path), env={}, use_user_config=False)
    assert s.api_key == "sk-SENTINEL-123"
    assert "SENTINEL" not in repr(s) and "SENTINEL" not in str(s.public_dict())
    env_key = load_settings(str(path), env={"OPENAI_API_KEY": "sk-env"}, use_user_config=False)
    assert env_key.api_key == "sk-env"
