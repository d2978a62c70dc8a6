"""The benchmark suite still runs (quick sizes); timings are not asserted here."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

FIGURES = {
    "db bytes after N turns",
    "time per turn outside the model",
    "list checkpoints of the current branch (history pane)",
    "list threads for the sidebar",
    "open a thread in the TUI until idle",
    "populate the sidebar (to the frame showing it)",
    "filter the sidebar (to the frame showing it)",
    "streaming: 10 ms timer delay p99",
    "streaming: 10 ms timer delay worst",
    "streaming: burst tokens/s absorbed",
    "rewind: choose a checkpoint -> chat shows it",
    "start-up to idle",
    "resident memory, thread open",
    # The backends side by side (figures, no targets).
    *(
        f"{figure} [{backend}]"
        for figure in ("time per turn outside the model", "history listing")
        for backend in ("sqlite", "postgres", "redis")
    ),
}


def test_quick_benchmarks_report_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["meta"]["quick"] is True
    assert doc["meta"]["cores"]
    rows = doc["results"]
    assert FIGURES <= {r["figure"] for r in rows}
    for r in rows:
        assert r["ours"] is not None, r
        assert {"size", "baseline", "ratio", "target", "met", "unit"} <= set(r), r
    # Timed to a frame: one was drawn after the action (nan: none was), and the
    # until-idle time is given beside it.
    framed = [r for r in rows if "frame" in r["figure"] or r["figure"].startswith("rewind")]
    assert len(framed) == 3
    for r in framed:
        assert math.isfinite(r["ours"]) and r["ours"] > 0, r
        assert "until idle" in r["note"], r
    # Both thread sizes for the open figure, N and turn 10 for the storage ones.
    assert sum(r["figure"] == "open a thread in the TUI until idle" for r in rows) == 2
    assert any(r["size"] == "turn 10" for r in rows)
