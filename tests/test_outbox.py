"""A message shown as sent is never lost: the outbox between Enter and the
input checkpoint, with real processes that die at every step of a turn."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from chat_app.service import ChatService
from tests.conftest import chat

USER = {"id": "outbox-tester"}

# A child that holds a message as the TUI does on Enter, then sends it, and
# dies (os._exit, as a SIGKILL would leave things) before its k-th write: the
# k-th checkpoint put/put_writes of the turn, or the outbox's removal of the
# row. k = 0: dies right after the hold. Prints DONE when it did not die.
CHILD = textwrap.dedent(
    """
    import os, sys
    from tests.conftest import make_settings
    from chat_app.service import ChatService

    data_dir, thread_id, text, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    svc = ChatService(make_settings(
        __import__("pathlib").Path(data_dir), user={"id": "outbox-tester"}
    ))
    svc.load_agent()
    count = 0

    def dying(fn):
        def wrapped(*args, **kwargs):
            global count
            count += 1
            if count == k:
                os._exit(137)
            return fn(*args, **kwargs)
        return wrapped

    mid = svc.hold(thread_id, text)
    if k == 0:
        os._exit(137)
    count = 0
    saver = svc.graph.checkpointer
    saver.put = dying(saver.put)
    saver.put_writes = dying(saver.put_writes)
    svc.outbox.remove = dying(svc.outbox.remove)
    for _ in svc.send(thread_id, text, message_id=mid):
        pass
    print("DONE", flush=True)
    """
)


def run_child(data_dir: Path, thread_id: str, text: str, k: int) -> bool:
    """True when the child finished the turn (k was past its last write)."""
    env = {k_: v for k_, v in os.environ.items() if not k_.startswith("CHAT_APP_")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), thread_id, text, str(k)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    if proc.returncode == 0:
        assert "DONE" in proc.stdout
        return True
    assert proc.returncode == 137, proc.stderr
    return False


def send_as_the_app_does(svc: ChatService, thread_id: str, text: str) -> None:
    """Enter in the message box: held first, then sent with the held id."""
    mid = svc.hold(thread_id, text)
    for _ in svc.send(thread_id, text, message_id=mid):
        pass


def texts(svc: ChatService, thread_id: str) -> list[str]:
    return [m.text for m in svc.load_messages(thread_id) if m.role == "user"]


def test_a_crash_at_any_write_of_a_turn_leaves_the_message_once_or_gives_it_back(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data_dir = tmp_path / "data"
    setup = service_factory(data_dir, user=USER)
    tid = setup.create_thread("crash at every write").id
    chat(setup, tid, "first message")
    setup.close()

    given_back: list[int] = []
    kept: list[int] = []
    k = 0
    while True:
        text = f"message for step {k}"
        finished = run_child(data_dir, tid, text, k)
        svc = service_factory(data_dir, user=USER)
        unsent = svc.unsent_messages(default_thread=tid)
        for run in svc.pending_runs():
            for _ in svc.resume(run.thread_id):
                pass
        in_thread = texts(svc, tid).count(text)
        returned = [u.text for u in unsent].count(text)
        # Exactly once: in its thread with its reply, or back as a draft.
        assert in_thread + returned == 1, (k, in_thread, returned)
        if returned:
            assert unsent[0].thread_id == tid
            given_back.append(k)
            # The draft stays given back until the person sends from the thread.
            assert [u.text for u in svc.unsent_messages(default_thread=tid)] == [text]
            send_as_the_app_does(svc, tid, text)
            assert svc.unsent_messages(default_thread=tid) == []
        else:
            kept.append(k)
            msgs = svc.load_messages(tid)
            assert msgs[-1].role == "assistant" and msgs[-2].text == text
        assert svc.outbox.pending_count() == 0
        svc.close()
        if finished:
            break
        k += 1
    # The message reaches storage with the first write (the input checkpoint):
    # dying before it gives the text back. LangGraph hands that write and the
    # input's pending writes to its pool together, so dying at the second write
    # may come before the first is committed: given back then too. Every later
    # write waits for the checkpoint before it, so from the third on the
    # message is kept in the thread.
    assert given_back[:2] == [0, 1] and set(given_back) <= {0, 1, 2}, given_back
    assert kept == list(range(len(given_back), k + 1)) and len(kept) >= 3, kept
    assert texts(service_factory(data_dir, user=USER), tid).count("message for step 3") == 1


def test_the_message_of_a_live_window_is_left_to_it(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    """A second window starting while the first is still sending does not
    take the first one's message (its writer is alive)."""
    data_dir = tmp_path / "data"
    first = service_factory(data_dir, user=USER)
    tid = first.create_thread().id
    mid = first.hold(tid, "on its way")
    second = service_factory(data_dir, user=USER)
    assert second.unsent_messages(default_thread=tid) == []
    for _ in first.send(tid, "on its way", message_id=mid):
        pass
    assert texts(second, tid) == ["on its way"]
    assert first.outbox.pending_count() == 0


def test_a_message_held_before_any_thread_existed_comes_back_where_the_person_is(
    tmp_path: Path, service_factory: Callable[..., ChatService]
) -> None:
    data_dir = tmp_path / "data"
    assert not run_child_hold_only(data_dir, "typed while starting")
    svc = service_factory(data_dir, user=USER)
    tid = svc.create_thread().id
    [unsent] = svc.unsent_messages(default_thread=tid)
    assert (unsent.thread_id, unsent.text) == (tid, "typed while starting")


def run_child_hold_only(data_dir: Path, text: str) -> bool:
    """A child that holds ``text`` for no thread yet (sent during start-up) and dies."""
    code = textwrap.dedent(
        """
        import os, sys, pathlib
        from tests.conftest import make_settings
        from chat_app.service import ChatService
        svc = ChatService(make_settings(pathlib.Path(sys.argv[1]), user={"id": "outbox-tester"}))
        svc.hold(None, sys.argv[2])
        os._exit(137)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), text],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )
    return proc.returncode == 0


def test_the_outbox_file_is_private(tmp_path: Path, service: ChatService) -> None:
    tid = service.create_thread().id
    service.hold(tid, "secret plans")
    path = service.settings.data_dir / "local.db"
    assert path.stat().st_mode & 0o777 == 0o600
