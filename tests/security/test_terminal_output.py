"""Text leaving the app for a terminal carries no control character.

Every CLI command prints through ``safe_text.to_terminal`` (JSON through
``json_for_terminal``): a stored reply, title or fact holding ``ESC[201~``,
an OSC 52 clipboard write, BEL or an 8-bit CSI reaches the terminal as
visible symbols, never as a live sequence, and JSON output stays exact.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

from chat_app.config import load_settings
from chat_app.safe_text import echo, json_for_terminal, to_terminal
from chat_app.service import ChatService
from graphs.facts import profile_namespace
from tests.fake_openai import FakeOpenAI
from tests.security.conftest import ESCAPES, run_cli

# What a hostile reply needs to run a command when pasted into a shell, plus
# the other ways into a terminal: OSC 52, BEL, 8-bit CSI, DEL, a lone CR.
HOSTILE = (
    "```sh\nls -la\x1b[201~\necho hi\n```\n"
    f"{ESCAPES['osc52']} bell\x07 csi\x9b2J del\x7f back\rover {ESCAPES['c1_osc']}"
)
# Any C0 control but newline and tab, DEL, any C1 control.
LIVE_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strings(data: object) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield k
            yield from strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from strings(v)


def assert_inert(*texts: str) -> None:
    for text in texts:
        assert LIVE_CONTROL.search(text) is None, repr(text)


# -- the function ----------------------------------------------------------------------


@given(st.text())
def test_to_terminal_leaves_no_control_but_newline_and_tab(text: str) -> None:
    out = to_terminal(text)
    assert_inert(out)
    assert out.count("\n") == text.count("\n") - text.count("\r\n") + text.count("\r")
    assert out.count("\t") == text.count("\t")


# Printable text of any script, with newlines and tabs.
ORDINARY = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cf")) | st.sampled_from("\n\t"))


@given(ORDINARY)
def test_ordinary_text_leaves_unchanged(text: str) -> None:
    assert to_terminal(text) == text


def test_to_terminal_examples() -> None:
    assert to_terminal("ls\x1b[201~\n") == "ls␛[201~\n"
    assert to_terminal("a\r\nb\rc") == "a\nb\nc"
    assert to_terminal("\x9b2J\x7f\x07") == "\ufffd2J␡␇"
    assert to_terminal("naïve 日本語 😀\tcode\n") == "naïve 日本語 😀\tcode\n"


@given(
    st.recursive(st.text() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c))
)
def test_json_for_terminal_is_exact_and_inert(data: object) -> None:
    out = json_for_terminal(data)
    assert json.loads(out) == data
    assert_inert(out)
    assert to_terminal(out) == out


def test_echo_writes_through_to_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    echo("a\x1b]52;c;SGk=\x07b")
    assert capsys.readouterr().out == "a␛]52;c;SGk=␇b\n"


# -- every command ---------------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A data dir whose thread title, messages and profile carry the payload,
    written the way an imported file or a tampered database would."""
    data_dir = tmp_path / "data"
    settings = load_settings(
        None, env={}, overrides={"storage": {"data_dir": str(data_dir)}}, use_user_config=False
    )
    svc = ChatService(settings)
    tid = svc.create_thread().id
    svc.index.rename(tid, "title " + HOSTILE)
    msgs = [HumanMessage(content="q " + HOSTILE, id="h1"), AIMessage(content=HOSTILE, id="a1")]
    svc.graph.update_state(
        {"configurable": {"thread_id": tid}}, {"messages": msgs}, as_node="remember"
    )
    svc.index.set_count(tid, 2)
    fact = {"kind": "name", "value": HOSTILE, "source_text": HOSTILE, "learned_at": "x"}
    svc.backend.store.put(profile_namespace(svc.user_id), "name", fact)
    svc.close()
    yield data_dir, tid


COMMANDS = {
    "show": ["show", "{tid}"],
    "export md": ["export", "{tid}"],
    "export json": ["export", "{tid}", "--format", "json"],
    "threads": ["threads"],
    "threads json": ["threads", "--json"],
    "threads search": ["threads", "--search", "ls"],
    "history": ["history", "{tid}"],
    "history all": ["history", "{tid}", "--all"],
    "history json": ["history", "{tid}", "--json"],
    "profile": ["profile"],
    "profile json": ["profile", "--json"],
    "recover": ["recover"],
    "prune": ["prune", "--dry-run"],
    "missing thread error": ["show", "no-such\x1b]52;c;SGk=\x07\x9b2J"],
    "forget error": ["profile", "forget", "x\x1b[201~\x07"],
    "usage error": ["threads", "\x1b]52;c;SGk=\x07", "\x9b2J"],
    "bad choice": ["export", "{tid}", "--format", "\x1b[2J"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_command_output_is_inert(hostile: tuple[Path, str], name: str) -> None:
    data_dir, tid = hostile
    args = [a.replace("{tid}", tid) for a in COMMANDS[name]]
    proc = run_cli(data_dir, *args)
    assert "Traceback" not in proc.stderr
    assert_inert(proc.stdout, proc.stderr)
    if name in ("show", "export md"):
        assert "ls -la␛[201~" in proc.stdout and "back\nover" in proc.stdout
    if name in ("export json", "threads json", "profile json"):
        # JSON stays the exact data: the payload comes back byte for byte.
        assert any(HOSTILE in text for text in strings(json.loads(proc.stdout)))


def test_send_streamed_reply_and_failure_lines_are_inert(
    hostile: tuple[Path, str],
) -> None:
    data_dir, _ = hostile
    with FakeOpenAI() as fake:
        env = {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake.base_url,
            "CHAT_APP_MODEL": "openai:fake",
            "CHAT_APP_MODEL_MAX_ATTEMPTS": "1",
        }
        fake.status(400, {"error": {"message": HOSTILE, "type": "x"}})
        failed = run_cli(data_dir, "send", "--new", "again", **env)
        assert failed.returncode == 1 and "reply failed" in failed.stderr
        assert_inert(failed.stdout, failed.stderr)
        fake.ok(HOSTILE, times=None)
        sent = run_cli(data_dir, "send", "--new", "hi", **env)
        assert sent.returncode == 0, sent.stderr
        assert "ls -la␛[201~" in sent.stdout
        assert_inert(sent.stdout, sent.stderr)


def test_config_warnings_and_doctor_are_inert(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\n"col\\u001b]52;c;SGk=\\u0007\\u009b2J" = 1\n', encoding="utf-8")
    for cmd in ("config", "doctor"):
        proc = run_cli(tmp_path / "data", "--config", str(cfg), cmd)
        assert "unknown key model.col" in proc.stdout + proc.stderr
        assert_inert(proc.stdout, proc.stderr)


def test_markdown_export_to_a_file_is_inert_and_json_exact(
    hostile: tuple[Path, str], tmp_path: Path
) -> None:
    """``export > file`` (stdout not a terminal): Markdown is still made safe
    (the file is read with cat later), JSON is still the exact text."""
    data_dir, tid = hostile
    md, js = tmp_path / "t.md", tmp_path / "t.json"
    from tests.security.conftest import CLI, REPO, cli_env

    for fmt, path in (("md", md), ("json", js)):
        with path.open("w") as fh:
            subprocess.run(
                [*CLI, "export", tid, "--format", fmt],
                stdout=fh,
                env=cli_env(data_dir),
                cwd=REPO,
                timeout=60,
                check=True,
            )
    assert_inert(md.read_text(), js.read_text())
    assert any(HOSTILE in text for text in strings(json.loads(js.read_text())))
