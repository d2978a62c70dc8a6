"""Stock LangGraph and the app share one PostgreSQL database.

The conformance suite runs on the PostgresSaver exactly as the app builds it
(its pool and serializer); stock ``PostgresSaver`` with its default
serializer reads the app's messages at every checkpoint of every branch.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver

from tests.checkpoint_conformance import failures, run_suite
from tests.services.conftest import new_schema_dsn, require_postgres
from tests.test_stock_langgraph import app_view, graph_on, run, send, view_of


async def test_the_postgres_saver_passes_the_conformance_suite(pg_database: str) -> None:
    require_postgres()
    from chat_app.storage.postgres.backend import open_pg

    @contextlib.contextmanager
    def make() -> Iterator[Any]:
        backend = open_pg(new_schema_dsn(pg_database))
        try:
            yield backend.saver
        finally:
            backend.close()

    report = await run_suite("chat-app PostgresSaver", make)
    assert failures(report) == []
    for cap in ("put", "put_writes", "get_tuple", "list", "delete_thread", "prune"):
        assert report.results[cap].detected and report.results[cap].tests_passed > 0, cap


def test_stock_postgres_saver_reads_every_checkpoint_the_app_wrote(
    tmp_path: Path, pg_dsn: str
) -> None:
    require_postgres()
    env = {"CHAT_APP_STORAGE_BACKEND": "postgres", "CHAT_APP_STORAGE_DSN": pg_dsn}
    data = tmp_path / "data"
    a = send(data, "My name is Alice", None, **env)
    for text in ("second turn", "third turn"):
        send(data, text, a, **env)
    b = send(data, "another thread", None, **env)
    history = json.loads(run(data, "history", "--json", a, **env).split("\n\n")[0])
    second = next(c["id"] for c in history if c["summary"] == "you: second turn")
    run(data, "rewind", a, second, **env)
    send(data, "a different path", a, **env)
    send(data, "this reply is cut", b, "--chaos", "kill=3", **env)
    with PostgresSaver.from_conn_string(pg_dsn) as saver:
        graph = graph_on(saver)
        for thread in (a, b):
            app, stock = app_view(data, thread, **env), view_of(graph, thread)
            assert set(app) == set(stock) and app
            for cp in app:
                assert stock[cp] == app[cp], cp
