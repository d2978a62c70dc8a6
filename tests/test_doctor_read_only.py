"""`chat-app doctor` only reads, and finds what a quick check cannot see.

Doctor on a 0400 database used to create 0400 ``-wal``/``-shm`` files: once
the person fixed the database as told, every write failed while doctor said
healthy. Now the directory listing (names and modes) is the same before and
after, and doctor also reads each thread's head the way the app does, lists
threads the thread list lost, and names database files with modes that break
writing.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

from chat_app.doctor_storage import RANDOM_HEADS, RECENT_HEADS, _sample
from chat_app.service import ChatService
from tests.conftest import chat
from tests.test_damaged_storage import USER, run
from tests.test_doctor import doctor, lines_of


def listing(data: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data)): oct(stat.S_IMODE(p.lstat().st_mode))
        for p in sorted(data.rglob("*"))
    }


def make_data(factory: Callable[..., ChatService], data: Path, threads: int = 1) -> list[str]:
    svc = factory(data, user={"id": USER})
    ids = []
    for i in range(threads):
        t = svc.create_thread().id
        chat(svc, t, f"hello {i}")
        ids.append(t)
    svc.close()
    return ids


def test_doctor_on_a_read_only_database_creates_nothing(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    (t,) = make_data(service_factory, data)
    db = data / "chat.db"
    db.chmod(0o400)
    before = listing(data)
    proc = run(data, "doctor")
    assert listing(data) == before, "doctor created a file or changed a mode"
    assert proc.returncode == 1
    (line,) = lines_of(proc.stdout, "FAIL  file modes")
    assert f"{db} is 0400" in line and f"chmod 600 {db}" in line
    # The person does as told: then writing works and doctor is content.
    db.chmod(0o600)
    sent = run(data, "send", "--thread", t, "after the fix")
    assert sent.returncode == 0, sent.stderr
    proc = run(data, "doctor")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().endswith("healthy")


def test_doctor_beside_a_running_app_creates_nothing(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data)
    chat(svc, svc.create_thread().id, "hello")  # open: -wal and -shm exist
    before = listing(data)
    assert "chat.db-wal" in before and "chat.db-shm" in before
    status, out = doctor(data)
    assert status == 0, out
    assert listing(data) == before


def test_a_wal_without_its_shm_is_named_not_completed(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    svc = service_factory(data)
    chat(svc, svc.create_thread().id, "hello")
    copy = tmp_path / "copy"
    copy.mkdir(mode=0o700)
    for name in ("chat.db", "chat.db-wal"):  # copied while open, without its -shm
        (copy / name).write_bytes((data / name).read_bytes())
        (copy / name).chmod(0o600)
    before = listing(copy)
    status, out = doctor(copy)
    assert listing(copy) == before, "doctor created the -shm"
    assert status == 0, out
    (line,) = lines_of(out, "WARN  database")
    assert f"{copy / 'chat.db-wal'} has no -shm" in line


def test_leftover_read_only_wal_and_shm_are_named(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    make_data(service_factory, data)
    db = data / "chat.db"
    db.chmod(0o400)
    # What a plain read-only open leaves behind (the old doctor did this).
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.execute("SELECT count(*) FROM checkpoints").fetchall()
    conn.close()
    db.chmod(0o600)
    wal, shm = data / "chat.db-wal", data / "chat.db-shm"
    assert stat.S_IMODE(shm.stat().st_mode) == 0o400
    status, out = doctor(data)
    assert status == 1
    (line,) = lines_of(out, "FAIL  file modes")
    assert f"{wal} is 0400" in line and f"{shm} is 0400" in line
    assert line.endswith(f"chmod 600 {wal} {shm}")


def test_a_thread_whose_head_cannot_be_read_is_a_failure(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    ids = make_data(service_factory, data, threads=3)
    bad = ids[1]
    conn = sqlite3.connect(data / "chat.db")
    with conn:
        conn.execute(
            "UPDATE checkpoints SET type = 'msgpack', checkpoint = x'c1c1c1' WHERE thread_id = ?"
            " AND checkpoint_id = (SELECT max(checkpoint_id) FROM checkpoints"
            " WHERE thread_id = ?)",
            (bad, bad),
        )
    conn.close()
    status, out = doctor(data)
    assert status == 1, out
    (line,) = lines_of(out, "FAIL  thread heads")
    assert line.startswith("FAIL  thread heads: 1 of all 3 threads") and bad in line
    assert ids[0] not in line and ids[2] not in line


def test_threads_missing_from_the_thread_list_are_named(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = tmp_path / "data"
    ids = make_data(service_factory, data, threads=3)
    conn = sqlite3.connect(data / "chat.db")
    with conn:
        conn.execute("DELETE FROM app_threads WHERE thread_id IN (?, ?)", (ids[0], ids[2]))
    conn.close()
    status, out = doctor(data)
    assert status == 0, out  # a warning: the threads are kept, nothing fails
    (line,) = lines_of(out, "WARN  thread list")
    assert "2 thread(s)" in line and ids[0] in line and ids[2] in line and ids[1] not in line
    assert "OK    thread heads: all 1 threads" in out


def test_many_threads_are_sampled_newest_first() -> None:
    ids = [f"t{i:05d}" for i in range(5000)]
    picked = _sample(ids, seed=1)
    assert len(picked) == RECENT_HEADS + RANDOM_HEADS == len(set(picked))
    assert picked[:RECENT_HEADS] == ids[:RECENT_HEADS]
    assert _sample(ids[:50]) == ids[:50]
