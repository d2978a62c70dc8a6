"""The data directory: what the app creates is private, what exists is left alone.

A directory (and the parents) the app creates is 0700 whatever the umask; an
existing directory is never chmodded, even one reached through a symlink
(`--data-dir /tmp` run as root once locked up /tmp); doctor names loose
permissions instead.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "chat_app"]


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env["CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS"] = "0"
    env["XDG_CONFIG_HOME"] = str(data_dir.parent / "xdg-config")
    return subprocess.run(
        [*CLI, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        # The loosest usual umask: created modes must not depend on it.
        preexec_fn=lambda: os.umask(0o002),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_directories_the_app_creates_are_private(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b" / "data"
    proc = run(data, "threads")
    assert proc.returncode == 0, proc.stderr
    for d in (tmp_path / "a", tmp_path / "a" / "b", data, data / "locks"):
        assert mode(d) == 0o700, (d, oct(mode(d)))
    for f in data.glob("chat.db*"):
        assert mode(f) == 0o600, (f, oct(mode(f)))


def test_an_existing_directory_is_never_changed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    assert run(shared, "threads").returncode == 0
    assert mode(shared) == 0o1777
    doctor = run(shared, "doctor")
    (line,) = [x for x in doctor.stdout.splitlines() if x.startswith("FAIL  permissions")]
    assert "1777, a directory shared with others" in line and "chmod 700" not in line
    # Reached through a symlink: the target keeps its mode too.
    target = tmp_path / "target"
    target.mkdir()
    target.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(target)
    proc = run(link, "send", "--new", "hello")
    assert proc.returncode == 0, proc.stderr
    assert mode(target) == 0o755 and link.is_symlink()
    assert (target / "chat.db").exists()
    # Doctor is where loose permissions are named, with the fix.
    doctor = run(link, "doctor")
    assert doctor.returncode == 1, doctor.stdout
    (line,) = [x for x in doctor.stdout.splitlines() if x.startswith("FAIL  permissions")]
    assert "0755" in line and "chmod 700" in line
