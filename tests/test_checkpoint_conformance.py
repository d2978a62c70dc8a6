"""LangGraph's published conformance suite, on the app's SQLite saver as the app builds it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chat_app.storage.sqlite.backend import open_saver
from tests.checkpoint_conformance import failures, run_suite


async def test_the_sqlite_saver_passes_the_conformance_suite(tmp_path: Path) -> None:
    made = iter(range(1000))

    @contextlib.contextmanager
    def make() -> Iterator[Any]:
        saver = open_saver(tmp_path / f"conformance-{next(made)}.db", 5.0)
        try:
            yield saver
        finally:
            saver.conn.close()

    report = await run_suite("chat-app SqliteSaver", make)
    assert failures(report) == []
    # Every base capability was really run, not skipped.
    for cap in ("put", "put_writes", "get_tuple", "list", "delete_thread"):
        assert report.results[cap].detected and report.results[cap].tests_passed > 0, cap
