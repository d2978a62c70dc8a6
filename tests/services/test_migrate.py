"""`chat-app migrate`: a SQLite database with branched threads, two users and
profiles goes to PostgreSQL or Redis whole, verifies, and rewinds correctly there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chat_app.cli import main
from chat_app.service import ChatService
from chat_app.storage.migrate import MigrationError, MigrationReport, migrate
from chat_app.storage.migrate_redis import migrate_to_redis
from tests.conftest import chat
from tests.services.conftest import backend_target, checkpoint_tree

pytestmark = pytest.mark.services

Make = Callable[..., ChatService]


@pytest.fixture(params=["postgres", "redis"])
def target(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The backend migrated to, and its URL (a fresh schema, the emptied Redis 8)."""
    return request.param, backend_target(request, request.param)


def migrate_to(data: Path, backend: str, url: str) -> MigrationReport:
    if backend == "redis":
        return migrate_to_redis(data, url)
    return migrate(data, url)


def test_migrate_round_trips_branches_and_rewinds(
    make_service: Make, target: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend, url = target
    data = tmp_path / "data"
    alice = make_service("sqlite", user="alice", data_dir=data)
    bob = make_service("sqlite", user="bob", data_dir=data)
    t1 = alice.create_thread().id
    chat(alice, t1, "Hi, my name is Alice and I like tea")
    for i in range(4):
        chat(alice, t1, f"turn {i}")
    inputs = {c.summary: c.id for c in alice.branch_timeline(t1) if c.kind == "user"}
    alice.rewind(t1, inputs["you: turn 1"])
    chat(alice, t1, "a second branch")
    for _ in alice.send(t1, "a third branch", from_checkpoint=inputs["you: turn 3"]):
        pass
    t2 = alice.create_thread("plain").id
    chat(alice, t2, "just one turn")
    tb = bob.create_thread().id
    chat(bob, tb, "My name is Bob")
    # Alice looks at an older branch of t1: that choice goes along too.
    hist = alice.history(t1)
    newest = max(c.id for c in hist.checkpoints)
    older = next(c.id for c in hist.checkpoints if c.id not in hist.children() and c.id != newest)
    alice.show_branch(t1, older)

    def usage(svc: ChatService, t: str) -> list[tuple[str, int | None, int | None]]:
        return [(c.id, c.input_tokens, c.output_tokens) for c in svc.history(t).checkpoints]

    expected = {
        t: (svc.load_messages(t), checkpoint_tree(svc, t), svc.get_thread(t), usage(svc, t))
        for svc, t in ((alice, t1), (alice, t2), (bob, tb))
    }
    assert any(n for _, n, _ in expected[t1][3])  # replies with their token counts
    alice_profile = alice.profile()
    alice.close()
    bob.close()

    report = migrate_to(data, backend, url)
    assert report.threads_copied == 3 and report.threads_skipped == 0
    assert report.profile_items == len(alice_profile) + 1
    assert report.users == {"alice", "bob"}

    pa = make_service(backend, dsn=url, user="alice", data_dir=tmp_path / "pg")
    pb = make_service(backend, dsn=url, user="bob", data_dir=tmp_path / "pg")
    for svc, t in ((pa, t1), (pa, t2), (pb, tb)):
        msgs, tree, info, used = expected[t]
        assert svc.load_messages(t) == msgs
        assert checkpoint_tree(svc, t) == tree
        assert svc.get_thread(t) == info
        assert usage(svc, t) == used
    assert [t.id for t in pa.list_threads()] == [t2, t1]
    assert [t.id for t in pb.list_threads()] == [tb]
    assert pa.profile() == alice_profile
    assert pb.list_threads(query="tea") == []
    assert [t.id for t in pa.list_threads(query="tea")] == [t1]

    # Every branch is there, and rewinding to each of them works on the target.
    hist = pa.history(t1)
    leaves = [c.id for c in hist.checkpoints if c.id not in hist.children()]
    assert len(leaves) == 3
    old = pa.load_messages(t1, inputs["you: turn 3"])
    assert [m.text for m in old][-2] == "turn 2"
    pa.rewind(t1, inputs["you: turn 3"])
    assert pa.load_messages(t1) == old
    assert "Alice" in chat(pa, t1, "What is my name?")
    assert [m.text for m in pa.load_messages(t1)][-2] == "What is my name?"

    # Again: nothing to do for the untouched threads; the thread used on
    # the target since is refused rather than overwritten.
    with pytest.raises(MigrationError, match="already exist"):
        migrate_to(data, backend, url)
    pa.delete_thread(t1)
    assert main(["--data-dir", str(data), "migrate", "--to", url]) == 0
    out = capsys.readouterr().out
    assert "migrated 1 threads" in out and "2 threads were already there" in out


def test_migrate_without_a_database_or_server_says_so(tmp_path: Path, pg_dsn: str) -> None:
    with pytest.raises(MigrationError, match="no SQLite database"):
        migrate(tmp_path / "nothing", pg_dsn)
    assert main(["--data-dir", str(tmp_path / "nothing"), "migrate", "--to", pg_dsn]) == 1
