"""The RedisSaver-beside-SqliteSaver benchmark still runs (a short thread; no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.redis8 import require_redis_checkpoint


def test_the_redis_saver_benchmark_reports_every_call(redis8: Any, tmp_path: Path) -> None:
    require_redis_checkpoint()
    kw = redis8.get_connection_kwargs()
    out = tmp_path / "bench.json"
    url = f"redis://{kw['host']}:{kw['port']}/0"
    args = ["--checkpoints", "20", "--url", url, "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.redis_saver", *args],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert set(doc["figures"]) == {"redis", "sqlite"}
    assert doc["figures"]["redis"].keys() == doc["figures"]["sqlite"].keys()
    assert len(doc["figures"]["redis"]) == 7
    assert all(f["mean_ms"] > 0 for f in doc["figures"]["redis"].values())
    assert "list thread (20)" in proc.stdout
