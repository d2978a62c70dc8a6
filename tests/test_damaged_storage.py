"""Damaged or unusable storage (issue 4, item 6), caused for real.

A corrupt or truncated database, a read-only one, a full disk (RLIMIT_FSIZE:
the kernel refuses to grow any file past the limit) and a lock whose holder
was SIGKILLed. Each gives one clear line, and the user's data is never
modified or deleted.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import signal
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chat_app.service import ChatService
from tests.conftest import chat

CLI = [sys.executable, "-m", "chat_app"]
USER = "damage"


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_APP_", "OPENAI_"))}
    env.update(
        CHAT_APP_DATA_DIR=str(data_dir),
        CHAT_APP_USER=USER,
        CHAT_APP_MODEL_OFFLINE_TOKEN_DELAY_MS="0",
        XDG_CONFIG_HOME=str(data_dir.parent / "xdg-config"),
        HOME=str(data_dir.parent),
    )
    return env


def run(
    data_dir: Path, *args: str, preexec: Callable[[], None] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env_for(data_dir),
        timeout=60,
        preexec_fn=preexec,
        cwd=Path(__file__).resolve().parents[1],
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines and lines[-1].startswith("chat-app: "), proc.stderr
    # Besides the thread id that `send` prints first, only "chat-app: ..." lines.
    assert all(x.startswith("chat-app: ") or " " not in x for x in lines), proc.stderr
    return lines[-1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def base() -> Iterator[Path]:
    # World-traversable, so a child running as another user can reach it.
    d = Path(tempfile.mkdtemp(prefix="chat-damage-"))
    d.chmod(0o755)
    yield d
    for p in d.rglob("*"):
        if p.is_dir():
            p.chmod(0o700)
    shutil.rmtree(d, ignore_errors=True)


def make_db(factory: Callable[..., ChatService], data: Path, turns: int = 20) -> str:
    svc = factory(data, user={"id": USER})
    t = svc.create_thread("precious").id
    for i in range(turns):
        chat(svc, t, f"message {i} " + "lorem ipsum " * 40)
    svc.close()  # the last connection folds the WAL into chat.db
    assert not (data / "chat.db-wal").exists() or (data / "chat.db-wal").stat().st_size == 0
    return t


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_database_is_refused_and_never_modified(
    damage: str, base: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = base / "data"
    make_db(service_factory, data)
    db = data / "chat.db"
    raw = bytearray(db.read_bytes())
    page = 4096
    assert len(raw) > 8 * page
    if damage == "flip":
        # Scribble over b-tree pages in the middle of the file (not the header).
        for p in range(3, len(raw) // page - 1, 2):
            for off in range(p * page + 8, p * page + 200):
                raw[off] ^= 0xA5
        db.write_bytes(bytes(raw))
    else:
        db.write_bytes(bytes(raw[: len(raw) // 2]))
    before = digest(db)

    line = one_line_error(run(data, "threads"))
    assert str(db) in line and "damaged" in line and "doctor" in line
    line = one_line_error(run(data, "send", "--new", "hello"))
    assert str(db) in line and "damaged" in line
    doctor = run(data, "doctor")
    assert doctor.returncode == 1
    assert any(x.startswith("FAIL  database:") for x in doctor.stdout.splitlines())
    assert "Keep the file" in doctor.stdout
    assert digest(db) == before, "the damaged database was modified"


def _flip_pages(db: Path) -> None:
    """Damage b-tree pages in place, then give the file back its old times."""
    st = db.stat()
    raw = bytearray(db.read_bytes())
    for p in range(3, len(raw) // 4096 - 1, 2):
        for off in range(p * 4096 + 8, p * 4096 + 200):
            raw[off] ^= 0xA5
    with db.open("r+b") as f:  # same inode, same size
        f.write(bytes(raw))
    os.utime(db, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_start_after_a_crash_checks_the_file_even_when_it_looks_untouched(
    base: Path, service_factory: Callable[..., ChatService]
) -> None:
    from chat_app.storage.sqlite import backend as sb

    data = base / "data"
    make_db(service_factory, data)
    db = data / "chat.db"
    assert (data / sb.CLEAN_MARK).exists(), "a clean close leaves its mark"
    backend = sb.open_sqlite_backend(data, 5.0)
    assert not (data / sb.CLEAN_MARK).exists(), "a running instance holds no mark"
    for conn in (backend.saver.conn, backend.store.conn, backend.app_conn):
        conn.close()  # the process dies: close() never runs
    _flip_pages(db)
    with pytest.raises(sb.StorageError, match="damaged"):
        sb.open_sqlite_backend(data, 5.0)


def test_a_clean_close_spares_the_next_start_the_full_read(
    base: Path, service_factory: Callable[..., ChatService], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat_app.storage.sqlite import backend as sb

    data = base / "data"
    t = make_db(service_factory, data)
    checked: list[Path] = []
    real = sb.check_database
    monkeypatch.setattr(sb, "check_database", lambda p, c: (checked.append(p), real(p, c)))
    svc = service_factory(data, user={"id": USER})
    assert checked == [] and len(svc.load_messages(t)) == 40
    chat(svc, t, "one more")
    svc.close()
    svc = service_factory(data, user={"id": USER})  # written and closed cleanly again
    assert checked == []
    svc.close()
    # Changed behind its back (another program, a restored copy): checked again.
    with sqlite3.connect(data / "chat.db") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS other (x)")
    conn.close()
    svc = service_factory(data, user={"id": USER})
    assert checked == [data / "chat.db"]
    svc.close()


@pytest.fixture
def read_only(base: Path) -> Iterator[Callable[[Path], Path]]:
    """Make a data dir read-only: chmod for a normal user; a read-only mount for
    root (root ignores file modes)."""
    mounts: list[Path] = []

    def make(data: Path) -> Path:
        if os.geteuid() != 0:
            (data / "chat.db").chmod(0o400)
            data.chmod(0o500)
            return data
        mnt = base / "mnt"
        mnt.mkdir()
        if (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt)],
                capture_output=True,
            ).returncode
            != 0
        ):
            pytest.skip("running as root and cannot mount a read-only file system")
        mounts.append(mnt)
        shutil.copytree(data, mnt / "data")
        (mnt / "data").chmod(0o700)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        return mnt / "data"

    yield make
    for m in mounts:
        subprocess.run(["umount", str(m)], check=False)


def test_read_only_database_gives_a_clear_message(
    base: Path,
    service_factory: Callable[..., ChatService],
    read_only: Callable[[Path], Path],
) -> None:
    t = make_db(service_factory, base / "data", turns=2)
    data = read_only(base / "data")
    db = data / "chat.db"
    before = digest(db)
    line = one_line_error(run(data, "send", "--thread", t, "hello"))
    assert str(db) in line and ("permission denied" in line or "read-only" in line)
    doctor = run(data, "doctor")
    assert doctor.returncode == 1
    assert "FAIL  writable:" in doctor.stdout
    assert digest(db) == before


def test_full_disk_gives_a_clear_message_and_loses_nothing(
    base: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = base / "data"
    t = make_db(service_factory, data, turns=3)
    db = data / "chat.db"
    limit = db.stat().st_size + 128 * 1024

    def small_disk() -> None:
        # Writing past the limit fails with EFBIG (the signal is ignored).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    rng = random.Random(7)  # incompressible: the checkpoint itself cannot be written
    big = "".join(rng.choice(string.ascii_letters) for _ in range(600_000))
    proc = run(data, "send", "--thread", t, "-", preexec=small_disk, stdin=big)
    line = one_line_error(proc)
    assert str(db) in line and ("disk" in line) and "free some space" in line
    # Nothing lost, nothing damaged; the next turn works once there is room.
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    ok = run(data, "send", "--thread", t, "after the disk was freed")
    assert ok.returncode == 0, ok.stderr
    svc = service_factory(data, user={"id": USER})
    texts = [m.text for m in svc.load_messages(t)]
    assert [x.split(" ")[0] + " " + x.split(" ")[1] for x in texts[:6:2]] == [
        "message 0",
        "message 1",
        "message 2",
    ]
    assert texts[-2] == "after the disk was freed" and len(texts) == 8
    assert svc.pending_runs() == []


def test_lock_of_a_killed_holder_never_blocks(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    svc = service_factory(tmp_path / "data", user={"id": USER})
    t = svc.create_thread().id
    lock_dir = tmp_path / "data" / "locks"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from chat_app.storage.sqlite.locks import ThreadLock\n"
            "lock = ThreadLock(Path(sys.argv[1]), sys.argv[2])\n"
            "assert lock.try_acquire()\n"
            "print('LOCKED', flush=True)\n"
            "time.sleep(120)\n",
            str(lock_dir),
            t,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "LOCKED"
    # While the holder lives, the thread is busy.
    assert not svc.backend.lock(t).try_acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    holder.stdout.close()
    assert any(lock_dir.glob("*.lock"))  # the stale file is still there
    t0 = time.monotonic()
    assert chat(svc, t, "hello after the holder died")
    assert time.monotonic() - t0 < 1.0
