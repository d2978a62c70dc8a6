"""Storage figures: database bytes, time per turn, history listing, thread listing.

Ours is the real ``ChatService`` (delta-channel messages, threads index) on
SQLite; the baseline is ``SqliteSaver.from_conn_string`` with a plain
``add_messages`` list graph. Both use the offline model with no token delay;
the time spent inside the model is measured and subtracted.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from benchmarks.common import (
    USER,
    ModelClock,
    Result,
    baseline_graph,
    checkpoint_wal,
    copy_db,
    db_bytes,
    make_settings,
    median,
    texts,
    timed_model_factory,
)
from chat_app.service import ChatService


@dataclass
class Sizes:
    turns: list[int]  # N for the bytes and per-turn figures (ours)
    baseline_turns: list[int]  # N actually run for the baseline
    history_checkpoints: int
    threads: int
    ui_small_turns: int  # the "1,000-message" thread for the UI figures
    ui_big_turns: int  # the "10,000-message" thread
    history_cap_s: float  # stop the baseline get_state_history after this long

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls([10, 30], [10, 30], 90, 300, 15, 30, 2.0)
        return cls([100, 1000, 5000], [100, 1000], 3000, 10_000, 500, 5000, 20.0)


@dataclass
class Artifacts:
    """Databases the UI benchmarks reuse (all written through the real graph)."""

    small_dir: Path | None = None  # data dir with a thread of 2 * ui_small_turns messages
    big_dir: Path | None = None
    baseline_small_db: Path | None = None
    many_threads_dir: Path | None = None
    thread_id: str = ""
    baseline_thread_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Pairing:
    """Turn 10 measured alongside turn N, so both see the same machine load.

    The ten turns up to N of the long thread alternate with turns 6-15 of a
    fresh thread in another database; the figure compares their medians. (On
    a shared machine, turn 10 measured minutes before turn 1,000 compares two
    different loads, not two thread lengths.)
    """

    def __init__(self, checkpoints: list[int], new_short: Any, short_turn: Any) -> None:
        self.starts = {n - 9: n for n in checkpoints}
        self.new_short = new_short
        self.short_turn = short_turn
        self.current: int | None = None
        self.short: dict[int, list[float]] = {}
        self.long: dict[int, list[float]] = {}

    def before(self, turn: int) -> None:
        if turn in self.starts:
            self.current = n = self.starts[turn]
            self.short[n], self.long[n] = [], []
            self.new_short()
            for _ in range(5):
                self.short_turn()
        if self.current is not None:
            self.short[self.current].append(self.short_turn())

    def after(self, turn: int, seconds: float) -> None:
        if self.current is not None:
            self.long[self.current].append(seconds)
            if turn == self.current:
                self.current = None

    def medians_ms(self, n: int) -> tuple[float, float] | None:
        if not self.long.get(n):
            return None
        return median(self.short[n]) * 1000, median(self.long[n]) * 1000


def state_bytes(values: dict[str, Any]) -> int:
    """The thread's final state serialized once (plain msgpack, uncompressed)."""
    return len(JsonPlusSerializer().dumps_typed(values)[1])


def _checkpoint_count(db: Path, thread_id: str) -> int:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def run_ours(work: Path, sizes: Sizes, art: Artifacts, log: Any) -> dict[str, Any]:
    data = work / "ours"
    svc = ChatService(make_settings(data), model_factory=timed_model_factory)
    db = data / "chat.db"
    tid = svc.create_thread("Benchmark thread").id
    art.thread_id = tid
    gen = texts(seed=1)
    per_turn: list[float] = []
    short_svc = ChatService(make_settings(work / "ours-short"), model_factory=timed_model_factory)
    short_tid = [""]

    def turn_on(service: ChatService, thread_id: str) -> float:
        text = next(gen)
        m0 = ModelClock.total
        t0 = time.perf_counter()
        for _ev in service.send(thread_id, text):
            pass
        return time.perf_counter() - t0 - (ModelClock.total - m0)

    def new_short() -> None:
        short_tid[0] = short_svc.create_thread("short").id

    pairing = Pairing(sizes.turns, new_short, lambda: turn_on(short_svc, short_tid[0]))
    out: dict[str, Any] = {"bytes": {}, "state_bytes": {}, "per_turn": per_turn, "pairing": pairing}
    n_max = max(sizes.turns)
    t_start = time.perf_counter()
    for turn in range(1, n_max + 1):
        pairing.before(turn)
        per_turn.append(turn_on(svc, tid))
        pairing.after(turn, per_turn[-1])
        if turn in sizes.turns:
            checkpoint_wal(db)
            out["bytes"][turn] = db_bytes(db)
            values = svc.graph.get_state({"configurable": {"thread_id": tid}}).values
            out["state_bytes"][turn] = state_bytes(dict(values))
        if "history" not in out and _hist_due(turn, 4, sizes.history_checkpoints):
            n_cp = _checkpoint_count(db, tid)
            if n_cp >= sizes.history_checkpoints:
                out["history"] = _time_history(svc, tid, n_cp)
        if turn == sizes.ui_small_turns:
            art.small_dir = work / "ui-small"
            copy_db(db, art.small_dir / "chat.db")
        if turn % 500 == 0:
            log(f"  ours: turn {turn}/{n_max} ({time.perf_counter() - t_start:.0f} s)")
    svc.close()
    short_svc.close()
    art.big_dir = data
    return out


def _hist_due(turn: int, per_turn: int, wanted: int) -> bool:
    return turn * per_turn >= wanted - per_turn


def _time_history(svc: ChatService, tid: str, n_cp: int) -> dict[str, Any]:
    hist, tl = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        h = svc.history(tid)
        hist.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        svc.branch_timeline(tid)
        tl.append(time.perf_counter() - t0)
    return {
        "checkpoints": n_cp,
        "branch_len": len(h.branch_ids),
        "history_ms": median(hist) * 1000,
        "timeline_ms": median(tl) * 1000,
    }


def run_baseline(work: Path, sizes: Sizes, art: Artifacts, log: Any) -> dict[str, Any]:
    path = work / "baseline" / "baseline.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    per_turn: list[float] = []
    tid = str(uuid.uuid4())
    art.baseline_thread_id = tid
    config = {"configurable": {"thread_id": tid}}
    gen = texts(seed=1)
    n_max = max(sizes.baseline_turns)
    short_path = work / "baseline-short" / "baseline.db"
    short_path.parent.mkdir(parents=True, exist_ok=True)
    short_conf: dict[str, Any] = {}

    def turn_on(graph: Any, conf: Any) -> float:
        msg = HumanMessage(content=next(gen), id=str(uuid.uuid4()))
        m0 = ModelClock.total
        t0 = time.perf_counter()
        graph.invoke({"messages": [msg]}, conf)
        return time.perf_counter() - t0 - (ModelClock.total - m0)

    def new_short() -> None:
        short_conf["configurable"] = {"thread_id": str(uuid.uuid4())}

    with (
        SqliteSaver.from_conn_string(str(path)) as saver,
        SqliteSaver.from_conn_string(str(short_path)) as short_saver,
    ):
        graph = baseline_graph(saver)
        short_graph = baseline_graph(short_saver)
        pairing = Pairing(sizes.baseline_turns, new_short, lambda: turn_on(short_graph, short_conf))
        out: dict[str, Any] = {"bytes": {}, "per_turn": per_turn, "pairing": pairing}
        t_start = time.perf_counter()
        for turn in range(1, n_max + 1):
            pairing.before(turn)
            per_turn.append(turn_on(graph, config))
            pairing.after(turn, per_turn[-1])
            if turn in sizes.baseline_turns:
                saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                out["bytes"][turn] = db_bytes(path)
            if turn == sizes.ui_small_turns:
                art.baseline_small_db = work / "baseline-ui" / "baseline.db"
                copy_db(path, art.baseline_small_db)
            if "history" not in out and _hist_due(turn, 3, sizes.history_checkpoints):
                n_cp = _checkpoint_count(path, tid)
                if n_cp >= sizes.history_checkpoints:
                    out["history"] = _time_state_history(graph, config, n_cp, sizes.history_cap_s)
            if turn % 250 == 0:
                log(f"  baseline: turn {turn}/{n_max} ({time.perf_counter() - t_start:.0f} s)")
    return out


def _time_state_history(graph: Any, config: Any, n_cp: int, cap_s: float) -> dict[str, Any]:
    """``get_state_history`` over the whole thread, stopped after ``cap_s``.

    When stopped, the time so far is reported as a lower bound (SqliteSaver
    reads every row before yielding the first state, so no per-state
    extrapolation is meaningful).
    """
    t0 = time.perf_counter()
    done = 0
    seen_msgs = 0
    for snap in graph.get_state_history(config):
        done += 1
        seen_msgs += len(snap.values.get("messages", []))
        if time.perf_counter() - t0 > cap_s:
            break
    elapsed = time.perf_counter() - t0
    return {"ms": elapsed * 1000, "capped": done < n_cp, "done": done, "messages": seen_msgs}


# -- many threads ---------------------------------------------------------------


TOPICS = ["garden", "python", "travel", "recipe", "budget", "music", "winter", "coffee"]


def _clone_threads(conn: sqlite3.Connection, template: str, n: int, app: bool) -> list[str]:
    """Copy the template thread's rows ``n`` times, in one transaction."""
    ids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(n)]
    now = time.time()
    conn.execute("BEGIN")
    conn.execute("CREATE TEMP TABLE ids (i INTEGER, tid TEXT, title TEXT, ts REAL)")
    conn.executemany(
        "INSERT INTO ids VALUES (?, ?, ?, ?)",
        [
            (i, tid, f"{TOPICS[i % len(TOPICS)]} notes {i}", now - 60 * (n - i))
            for i, tid in enumerate(ids)
        ],
    )
    for table in ("checkpoints", "writes") + (("app_messages", "app_notes") if app else ()):
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        sel = ", ".join("ids.tid" if c == "thread_id" else f"t.{c}" for c in cols)
        conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {sel} FROM {table} t, ids"
            " WHERE t.thread_id = ?",
            (template,),
        )
    if app:
        conn.execute(
            "INSERT INTO app_threads (thread_id, user_id, title, title_locked, created_at,"
            " updated_at, message_count, run_state) SELECT ids.tid, t.user_id, ids.title, 1,"
            " ids.ts, ids.ts, t.message_count, 'idle' FROM app_threads t, ids"
            " WHERE t.thread_id = ?",
            (template,),
        )
    conn.execute("DROP TABLE ids")
    conn.execute("COMMIT")
    return ids


def seed_many_threads(work: Path, n: int) -> tuple[Path, Path]:
    """Two databases with ``n`` real threads of two turns each: ours and the baseline's."""
    data = work / "many"
    svc = ChatService(make_settings(data), model_factory=timed_model_factory)
    template = svc.create_thread("template").id
    gen = texts(seed=3)
    for _ in range(2):
        for _ev in svc.send(template, next(gen)):
            pass
    svc.close()
    conn = sqlite3.connect(data / "chat.db", isolation_level=None)
    _clone_threads(conn, template, n - 1, app=True)
    conn.close()

    bpath = work / "many-baseline" / "baseline.db"
    bpath.parent.mkdir(parents=True, exist_ok=True)
    btid = str(uuid.uuid4())
    with SqliteSaver.from_conn_string(str(bpath)) as saver:
        graph = baseline_graph(saver)
        for _ in range(2):
            msg = HumanMessage(content=next(gen), id=str(uuid.uuid4()))
            graph.invoke({"messages": [msg]}, {"configurable": {"thread_id": btid}})
    conn = sqlite3.connect(bpath, isolation_level=None)
    _clone_threads(conn, btid, n - 1, app=False)
    conn.close()
    return data, bpath


def time_list_threads(data: Path, bpath: Path) -> tuple[float, float, int]:
    svc = ChatService(make_settings(data), model_factory=timed_model_factory)
    runs = []
    count = 0
    for _ in range(5):
        t0 = time.perf_counter()
        count = len(svc.list_threads())
        runs.append(time.perf_counter() - t0)
    svc.close()
    with SqliteSaver.from_conn_string(str(bpath)) as saver:
        t0 = time.perf_counter()
        found = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
        base = time.perf_counter() - t0
    assert len(found) == count, (len(found), count)
    return median(runs) * 1000, base * 1000, count


# -- the figures ---------------------------------------------------------------------


def run(work: Path, quick: bool, log: Any) -> tuple[list[Result], Artifacts]:
    sizes = Sizes.for_mode(quick)
    art = Artifacts()
    log("storage: ours, turns through the real graph")
    ours = run_ours(work, sizes, art, log)
    log("storage: baseline (plain add_messages list, SqliteSaver.from_conn_string)")
    base = run_baseline(work, sizes, art, log)
    results: list[Result] = []

    # Database bytes.
    bb = base["bytes"]
    b_turns = sorted(bb)
    for n in sizes.turns:
        b_val: float | None = bb.get(n)
        note = ""
        if b_val is None and len(b_turns) >= 2:
            # Quadratic growth (every checkpoint holds the whole list): fit a*n^2 + b*n.
            n1, n2 = b_turns[-2], b_turns[-1]
            y1, y2 = bb[n1], bb[n2]
            a = (y2 / n2 - y1 / n1) / (n2 - n1)
            b = y1 / n1 - a * n1
            b_val = a * n * n + b * n
            note = f"baseline extrapolated (a*N^2+b*N fit on N={n1},{n2})"
        o_val = ours["bytes"][n]
        sb = ours["state_bytes"][n]
        target, met = "", None
        if n == (1000 if not quick else max(sizes.turns)):
            target = "<= baseline/20 and <= 5x state"
            met = b_val is not None and o_val <= b_val / 20 and o_val <= 5 * sb
        results.append(
            Result(
                "db bytes after N turns",
                f"N={n}",
                o_val / 1e6,
                None if b_val is None else b_val / 1e6,
                "MB",
                target,
                met,
                note or f"ours = {o_val / sb:.1f}x the final state serialized once",
                {"state_bytes": sb, "ours_over_state": o_val / sb},
            )
        )

    # Time per turn outside the model: turn N beside turn 10 measured alongside it.
    op: Pairing = ours["pairing"]
    bp: Pairing = base["pairing"]
    check_at = 1000 if not quick else max(sizes.turns)
    first = op.medians_ms(sizes.turns[0])
    bfirst = bp.medians_ms(sizes.baseline_turns[0])
    if first is not None and sizes.turns[0] != 10:
        results.append(
            Result(
                "time per turn outside the model",
                "turn 10",
                first[0],
                bfirst[0] if bfirst else None,
                "ms",
                "",
                None,
                f"measured alongside turn {sizes.turns[0]}",
            )
        )
    for n in sizes.turns:
        o = op.medians_ms(n)
        b = bp.medians_ms(n)
        if o is None:
            continue
        target, met = "", None
        if n == check_at:
            target = "<= 1.5x turn 10"
            met = o[1] <= 1.5 * o[0]
        note = f"ours {o[1] / o[0]:.2f}x turn 10 ({o[0]:.0f} ms alongside)"
        note += (
            f"; baseline {b[1] / b[0]:.2f}x ({b[0]:.0f} ms alongside)"
            if b
            else "; baseline not run this far"
        )
        results.append(
            Result(
                "time per turn outside the model",
                f"turn {n}",
                o[1],
                b[1] if b else None,
                "ms",
                target,
                met,
                note,
                {"turn10_ours_ms": o[0], "turn10_baseline_ms": b[0] if b else None},
            )
        )

    # History listing.
    h, bh = ours.get("history"), base.get("history")
    if h is not None:
        results.append(
            Result(
                "list checkpoints of the current branch (history pane)",
                f"{h['checkpoints']} checkpoints",
                h["history_ms"],
                bh["ms"] if bh else None,
                "ms",
                "<= 50 ms",
                h["history_ms"] <= 50,
                f"branch_timeline {h['timeline_ms']:.1f} ms; baseline get_state_history"
                + (
                    f" stopped after {bh['ms'] / 1000:.0f} s with {bh['done']} of"
                    f" {h['checkpoints']} states: a lower bound"
                    if bh and bh["capped"]
                    else ""
                ),
                h,
            )
        )

    # Thread listing.
    log(f"storage: seeding {sizes.threads:,} threads")
    many, bmany = seed_many_threads(work, sizes.threads)
    art.many_threads_dir = many
    o_ms, b_ms, count = time_list_threads(many, bmany)
    results.append(
        Result(
            "list threads for the sidebar",
            f"{count:,} threads",
            o_ms,
            b_ms,
            "ms",
            "<= 100 ms",
            o_ms <= 100,
            "baseline: saver.list(None)",
        )
    )
    art.extra["user"] = USER
    art.extra["baseline_list_threads_ms"] = b_ms
    return results, art
