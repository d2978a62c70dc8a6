"""What the app tells a person about keys names keys that do something."""

from __future__ import annotations

from pathlib import Path

from tests.test_offline_model import later

ROOT = Path(__file__).resolve().parents[1]


def test_offline_model_names_the_copy_key_not_a_button() -> None:
    for text in ("show me python code", "help"):
        answer = later(text)
        assert "copy button" not in answer
    assert "F6" in later("show me python code")


def test_config_example_names_the_panel_keys_that_exist() -> None:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert "ctrl+h" not in text
    assert "ctrl+b and ctrl+o" in text
