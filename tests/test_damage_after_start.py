"""Damage that SQLite finds after start-up (the start skipped the full check
because the last run closed the file cleanly and it looks untouched).

It is one line naming the file and what to do, never "internal error"; from
then on the app writes nothing more to that file, and it leaves no clean mark,
so the next start checks the file and refuses it before writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.service import ChatService
from chat_app.storage.sqlite import backend as sb
from tests.test_damaged_storage import USER, _flip_pages, base, digest, make_db, one_line_error, run

__all__ = ["base"]  # the fixture, used by name


def test_show_on_damage_found_late_is_one_line_and_nothing_is_written_after(
    base: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = base / "data"
    t = make_db(service_factory, data)
    db = data / "chat.db"
    _flip_pages(db)  # same size, time and inode: the next start skips the check
    before = digest(db)
    line = one_line_error(run(data, "show", t))
    assert "internal error" not in line
    assert str(db) in line and "damaged" in line and "doctor" in line and "backup" in line
    assert not (data / sb.CLEAN_MARK).exists(), "a run that found damage marked the file clean"
    line = one_line_error(run(data, "send", "--new", "hello"))
    assert str(db) in line and "damaged" in line
    assert digest(db) == before, "the damaged database was written to"


def test_after_damage_is_found_writes_are_refused(
    base: Path, service_factory: Callable[..., ChatService]
) -> None:
    data = base / "data"
    t = make_db(service_factory, data)
    db = data / "chat.db"
    _flip_pages(db)
    svc = service_factory(data, user={"id": USER})
    with pytest.raises(sqlite3.DatabaseError) as found:
        svc.load_messages(t)
    damage = svc.describe_storage_error(found.value)
    assert damage.startswith(f"{db}: the database is damaged") and "doctor" in damage
    before = digest(db)
    with pytest.raises(sqlite3.DatabaseError) as refused:
        svc.create_thread("written into a damaged file")
    assert svc.describe_storage_error(refused.value) == damage
    svc.close()
    assert digest(db) == before
